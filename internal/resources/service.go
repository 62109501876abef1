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
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	appsv1alpha1 "github.com/userservice-dev/userservice-operator/api/v1alpha1"
)

// Service returns the Service that routes spec.service.port to the pods'
// http port, and spec.grpc.port to their grpc port when gRPC is enabled.
func Service(us *appsv1alpha1.UserService) *corev1.Service {
	svc := &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: objectMeta(us, us.Name, ""),
		Spec: corev1.ServiceSpec{
			Type:     ServiceType(us),
			Selector: SelectorLabels(us),
			Ports: []corev1.ServicePort{{
				Name:       HTTPPortName,
				Port:       ServicePort(us),
				TargetPort: intstr.FromString(HTTPPortName),
				Protocol:   corev1.ProtocolTCP,
			}},
		},
	}
	if GRPCEnabled(us) {
		svc.Spec.Ports = append(svc.Spec.Ports, grpcServicePort(us))
	}
	return svc
}

// ServiceType returns spec.service.type, ClusterIP when unset.
func ServiceType(us *appsv1alpha1.UserService) corev1.ServiceType {
	if us.Spec.Service.Type == "" {
		return corev1.ServiceTypeClusterIP
	}
	return us.Spec.Service.Type
}

// ServicePort returns spec.service.port, 80 when unset.
func ServicePort(us *appsv1alpha1.UserService) int32 {
	if us.Spec.Service.Port == 0 {
		return 80
	}
	return us.Spec.Service.Port
}

// ServiceURL returns the in-cluster URL of the Service.
func ServiceURL(us *appsv1alpha1.UserService) string {
	return fmt.Sprintf("http://%s.%s.svc:%d", us.Name, us.Namespace, ServicePort(us))
}
