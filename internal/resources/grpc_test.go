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
	"strings"
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
			c := Deployment(us, "img:v1", inputs(us)).Spec.Template.Spec.Containers[0]
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

// TestGRPCAndEventsEnv checks GRPC_PORT and AMQP_URL: among the
// operator's variables in name order, before the user's, AMQP_URL from its
// Secret, and neither in the migration Job.
func TestGRPCAndEventsEnv(t *testing.T) {
	names := func(env []corev1.EnvVar) string {
		n := make([]string, 0, len(env))
		for _, e := range env {
			n = append(n, e.Name+"="+e.Value)
		}
		return strings.Join(n, " ")
	}
	us := newUS(func(us *appsv1alpha1.UserService) {
		us.Spec.Env = []corev1.EnvVar{{Name: "Z_EXTRA", Value: "1"}, {Name: "A_EXTRA", Value: "2"}}
		us.Spec.GRPC.Port = 9090
		us.Spec.Events.AMQPURLSecretRef = &appsv1alpha1.AMQPURLSecretRef{Name: "rabbitmq"}
	})
	env := Env(us, inputs(us))
	want := "AMQP_URL= DATABASE_URL= GRPC_PORT=9090 JWT_SECRET= LOG_LEVEL=info SERVER_PORT=3000 SHUTDOWN_DRAIN=5s SHUTDOWN_TIMEOUT=20s Z_EXTRA=1 A_EXTRA=2"
	if got := names(env); got != want {
		t.Fatalf("env = %s\nwant  %s", got, want)
	}
	if r := env[0].ValueFrom.SecretKeyRef; r.Name != "rabbitmq" || r.Key != "url" {
		t.Errorf("AMQP_URL ref = %+v, want rabbitmq/url", r)
	}
	if d := Deployment(us, "img", inputs(us)); !equality.Semantic.DeepEqual(d.Spec.Template.Spec.Containers[0].Env, env) {
		t.Error("the Deployment does not use Env")
	}
	if job := names(MigrationJob(us, "img").Spec.Template.Spec.Containers[0].Env); strings.Contains(job, "GRPC_PORT") || strings.Contains(job, "AMQP_URL") {
		t.Errorf("the migration Job has %s", job)
	}

	us.Spec.GRPC.Enabled = ptr.To(false)
	us.Spec.Events.AMQPURLSecretRef = nil
	want = "DATABASE_URL= GRPC_PORT=0 JWT_SECRET= LOG_LEVEL=info SERVER_PORT=3000 SHUTDOWN_DRAIN=5s SHUTDOWN_TIMEOUT=20s Z_EXTRA=1 A_EXTRA=2"
	if got := names(Env(us, inputs(us))); got != want {
		t.Fatalf("gRPC off, no events: env = %s\nwant  %s", got, want)
	}
}
