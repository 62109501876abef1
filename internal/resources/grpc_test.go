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
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	appsv1alpha1 "github.com/userservice-dev/userservice-operator/api/v1alpha1"
)

// TestGRPC checks the ports, the readiness probe and the Service for each
// setting of spec.grpc.
func TestGRPC(t *testing.T) {
	tests := []struct {
		name      string
		mutate    func(*appsv1alpha1.UserService)
		wantPorts []corev1.ContainerPort
		wantReady corev1.ProbeHandler
		wantSvc   []corev1.ServicePort
	}{
		{"enabled by default on 50051", nil,
			[]corev1.ContainerPort{{Name: "http", ContainerPort: 3000, Protocol: "TCP"}, {Name: "grpc", ContainerPort: 50051, Protocol: "TCP"}},
			corev1.ProbeHandler{GRPC: &corev1.GRPCAction{Port: 50051}},
			[]corev1.ServicePort{
				{Name: "http", Port: 80, TargetPort: intstr.FromString("http"), Protocol: "TCP"},
				{Name: "grpc", Port: 50051, TargetPort: intstr.FromString("grpc"), Protocol: "TCP", AppProtocol: ptr.To("grpc")},
			}},
		{"another port", func(us *appsv1alpha1.UserService) { us.Spec.GRPC.Port = 9090 },
			[]corev1.ContainerPort{{Name: "http", ContainerPort: 3000, Protocol: "TCP"}, {Name: "grpc", ContainerPort: 9090, Protocol: "TCP"}},
			corev1.ProbeHandler{GRPC: &corev1.GRPCAction{Port: 9090}},
			[]corev1.ServicePort{
				{Name: "http", Port: 80, TargetPort: intstr.FromString("http"), Protocol: "TCP"},
				{Name: "grpc", Port: 9090, TargetPort: intstr.FromString("grpc"), Protocol: "TCP", AppProtocol: ptr.To("grpc")},
			}},
		{"disabled", func(us *appsv1alpha1.UserService) { us.Spec.GRPC.Enabled = ptr.To(false) },
			[]corev1.ContainerPort{{Name: "http", ContainerPort: 3000, Protocol: "TCP"}},
			httpGet("/ready"),
			[]corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http"), Protocol: "TCP"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			us := newUS(tt.mutate)
			us.Spec.Probes.Readiness = &appsv1alpha1.ProbeTuning{PeriodSeconds: ptr.To[int32](7)}
			c := Deployment(us, inputs(us, "img:v1")).Spec.Template.Spec.Containers[0]
			if !equality.Semantic.DeepEqual(c.Ports, tt.wantPorts) {
				t.Errorf("container ports = %+v, want %+v", c.Ports, tt.wantPorts)
			}
			if !equality.Semantic.DeepEqual(c.ReadinessProbe.ProbeHandler, tt.wantReady) || c.ReadinessProbe.PeriodSeconds != 7 {
				t.Errorf("readiness probe = %+v, want %+v with the period override", c.ReadinessProbe, tt.wantReady)
			}
			if c.LivenessProbe.HTTPGet.Path != "/health" || c.StartupProbe.HTTPGet.Path != "/health" {
				t.Error("liveness and startup must stay GET /health")
			}
			if ports := Service(us).Spec.Ports; !equality.Semantic.DeepEqual(ports, tt.wantSvc) {
				t.Errorf("service ports = %+v, want %+v", ports, tt.wantSvc)
			}
		})
	}
}
