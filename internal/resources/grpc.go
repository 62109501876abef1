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
	"strconv"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	appsv1alpha1 "github.com/userservice-dev/userservice-operator/api/v1alpha1"
)

// GRPCPortName names the gRPC container port and Service port.
const GRPCPortName = "grpc"

// GRPCEnabled reports whether the pods serve gRPC: spec.grpc.enabled, true when unset.
func GRPCEnabled(us *appsv1alpha1.UserService) bool {
	return ptr.Deref(us.Spec.GRPC.Enabled, true)
}

// GRPCPort returns spec.grpc.port, 50051 when unset.
func GRPCPort(us *appsv1alpha1.UserService) int32 {
	if us.Spec.GRPC.Port == 0 {
		return 50051
	}
	return us.Spec.GRPC.Port
}

// grpcEnv returns GRPC_PORT: the gRPC port, or 0 (gRPC off) when disabled,
// so that the service never listens on a port that nothing routes to.
func grpcEnv(us *appsv1alpha1.UserService) corev1.EnvVar {
	port := "0"
	if GRPCEnabled(us) {
		port = strconv.Itoa(int(GRPCPort(us)))
	}
	return corev1.EnvVar{Name: "GRPC_PORT", Value: port}
}

// AMQPSecret returns the Secret key that becomes AMQP_URL, with the key
// defaulted to "url", and false when spec.events.amqpURLSecretRef is unset.
func AMQPSecret(us *appsv1alpha1.UserService) (SecretKey, bool) {
	ref := us.Spec.Events.AMQPURLSecretRef
	if ref == nil {
		return SecretKey{}, false
	}
	return SecretKey{Name: ref.Name, Key: orDefault(ref.Key, "url")}, true
}

// eventsEnv returns AMQP_URL from spec.events.amqpURLSecretRef, or nothing
// when it is unset (the service then writes and publishes no events).
func eventsEnv(us *appsv1alpha1.UserService) []corev1.EnvVar {
	if ref, ok := AMQPSecret(us); ok {
		return []corev1.EnvVar{secretEnv("AMQP_URL", ref)}
	}
	return nil
}

// readinessProbe returns the readiness probe: Kubernetes' grpc probe of the
// standard health service (which follows the same checks as /ready) when
// gRPC is enabled, GET /ready otherwise, with the user's overrides.
func readinessProbe(us *appsv1alpha1.UserService) *corev1.Probe {
	handler := httpGet("/ready")
	if GRPCEnabled(us) {
		handler = corev1.ProbeHandler{GRPC: &corev1.GRPCAction{Port: GRPCPort(us)}}
	}
	return probe(handler, 5, 3, us.Spec.Probes.Readiness)
}

// grpcServicePort returns the Service port named grpc.
func grpcServicePort(us *appsv1alpha1.UserService) corev1.ServicePort {
	return corev1.ServicePort{
		Name:        GRPCPortName,
		Port:        GRPCPort(us),
		TargetPort:  intstr.FromString(GRPCPortName),
		Protocol:    corev1.ProtocolTCP,
		AppProtocol: ptr.To("grpc"),
	}
}
