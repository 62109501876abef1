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
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	appsv1alpha1 "github.com/userservice-dev/userservice-operator/api/v1alpha1"
)

// DesiredReplicas returns the replica count the user asked for: the HPA's
// minReplicas when autoscaling is set, else spec.replicas, defaulted.
func DesiredReplicas(us *appsv1alpha1.UserService) int32 {
	if a := us.Spec.Autoscaling; a != nil {
		return ptr.Deref(a.MinReplicas, appsv1alpha1.DefaultMinReplicas)
	}
	return ptr.Deref(us.Spec.Replicas, appsv1alpha1.DefaultReplicas)
}

// PodDisruptionBudget returns the PodDisruptionBudget, or nil when none is
// wanted: spec.podDisruptionBudget when set, else maxUnavailable 1 when more
// than one replica is desired.
func PodDisruptionBudget(us *appsv1alpha1.UserService) *policyv1.PodDisruptionBudget {
	spec := policyv1.PodDisruptionBudgetSpec{Selector: &metav1.LabelSelector{MatchLabels: SelectorLabels(us)}}
	switch p := us.Spec.PodDisruptionBudget; {
	case p != nil:
		spec.MinAvailable = copyIntOrString(p.MinAvailable)
		spec.MaxUnavailable = copyIntOrString(p.MaxUnavailable)
	case DesiredReplicas(us) > 1:
		spec.MaxUnavailable = ptr.To(intstr.FromInt32(1))
	default:
		return nil
	}
	return &policyv1.PodDisruptionBudget{
		TypeMeta:   metav1.TypeMeta{APIVersion: "policy/v1", Kind: "PodDisruptionBudget"},
		ObjectMeta: objectMeta(us, us.Name, ""),
		Spec:       spec,
	}
}

// HorizontalPodAutoscaler returns the HPA scaling the Deployment on CPU
// utilization, or nil when spec.autoscaling is unset.
func HorizontalPodAutoscaler(us *appsv1alpha1.UserService) *autoscalingv2.HorizontalPodAutoscaler {
	a := us.Spec.Autoscaling
	if a == nil {
		return nil
	}
	targetCPU := ptr.Deref(a.TargetCPUUtilizationPercentage, appsv1alpha1.DefaultTargetCPUUtilizationPercentage)
	return &autoscalingv2.HorizontalPodAutoscaler{
		TypeMeta:   metav1.TypeMeta{APIVersion: "autoscaling/v2", Kind: "HorizontalPodAutoscaler"},
		ObjectMeta: objectMeta(us, us.Name, ""),
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{
				APIVersion: "apps/v1", Kind: "Deployment", Name: us.Name,
			},
			MinReplicas: ptr.To(ptr.Deref(a.MinReplicas, appsv1alpha1.DefaultMinReplicas)),
			MaxReplicas: a.MaxReplicas,
			Metrics: []autoscalingv2.MetricSpec{{
				Type: autoscalingv2.ResourceMetricSourceType,
				Resource: &autoscalingv2.ResourceMetricSource{
					Name: corev1.ResourceCPU,
					Target: autoscalingv2.MetricTarget{
						Type:               autoscalingv2.UtilizationMetricType,
						AverageUtilization: ptr.To(targetCPU),
					},
				},
			}},
		},
	}
}

// copyIntOrString returns a copy of v, or nil when v is nil.
func copyIntOrString(v *intstr.IntOrString) *intstr.IntOrString {
	if v == nil {
		return nil
	}
	c := *v
	return &c
}
