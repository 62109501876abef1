/*
Copyright 2026 The userservice-operator Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

	http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/
package resources

import (
	"maps"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	appsv1alpha1 "github.com/userservice-dev/userservice-operator/api/v1alpha1"
)

// Deployment returns the Deployment that serves in.Image. Its replica count is
// left unset when an HPA owns it; its selector is the name and the instance only.
func Deployment(us *appsv1alpha1.UserService, in Inputs) *appsv1.Deployment {
	d := &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: objectMeta(us, us.Name, in.Image),
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: SelectorLabels(us)},
			Strategy: appsv1.DeploymentStrategy{
				Type: appsv1.RollingUpdateDeploymentStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDeployment{
					MaxUnavailable: ptr.To(intstr.FromInt32(0)),
					MaxSurge:       ptr.To(intstr.FromInt32(1)),
				},
			},
			Template: PodTemplate(us, in),
		},
	}
	if us.Spec.Autoscaling == nil {
		d.Spec.Replicas = ptr.To(ptr.Deref(us.Spec.Replicas, 2))
	}
	return d
}

// PodTemplate returns the Deployment's pod template: the service container
// with probes, preStop sleep and restricted security, plus the user's pod settings.
func PodTemplate(us *appsv1alpha1.UserService, in Inputs) corev1.PodTemplateSpec {
	c := container(us, in.Image, Env(us, in), "serve")
	c.Ports = []corev1.ContainerPort{{Name: HTTPPortName, ContainerPort: HTTPPort, Protocol: corev1.ProtocolTCP}}
	if GRPCEnabled(us) {
		c.Ports = append(c.Ports, corev1.ContainerPort{Name: GRPCPortName, ContainerPort: GRPCPort(us), Protocol: corev1.ProtocolTCP})
	}
	pr := us.Spec.Probes
	c.LivenessProbe = probe(httpGet("/health"), 10, 3, pr.Liveness)
	c.ReadinessProbe = readinessProbe(us)
	c.StartupProbe = probe(httpGet("/health"), 2, 30, pr.Startup)
	c.Lifecycle = &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{
		Sleep: &corev1.SleepAction{Seconds: PreStopSleepSeconds},
	}}
	spec := podSpec(us, c)
	spec.TerminationGracePeriodSeconds = ptr.To[int64](TerminationGracePeriodSeconds)

	labels := maps.Clone(us.Spec.PodTemplate.Labels)
	if labels == nil {
		labels = map[string]string{}
	}
	maps.Copy(labels, Labels(us, in.Image))
	labels[LabelComponent] = "server"
	annotations := maps.Clone(us.Spec.PodTemplate.Annotations)
	if annotations == nil {
		annotations = map[string]string{}
	}
	annotations[AnnotationSecretHash] = in.SecretsHash
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: labels, Annotations: annotations},
		Spec:       spec,
	}
}
