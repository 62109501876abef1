//go:build e2e && !realnode

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

package e2e

import (
	. "github.com/onsi/ginkgo/v2" //nolint:revive // Ginkgo's DSL is meant to be dot-imported.
	. "github.com/onsi/gomega"    //nolint:revive // Gomega's DSL is meant to be dot-imported.
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

var _ = Describe("A UserService with gRPC and events", func() {
	It("gets the gRPC ports, the grpc readiness probe, GRPC_PORT and AMQP_URL, "+
		"and rolls its pods when the AMQP Secret changes", func() {
		ns := newNamespace("grpc-events")
		setURLSecret(ns, "rabbitmq", "amqp://users:pw-1@rabbitmq:5672/")
		createUserService(ns, "users", 2, func(spec map[string]any) {
			spec["grpc"] = map[string]any{"port": int64(50052)}
			spec["events"] = map[string]any{"amqpURLSecretRef": map[string]any{"name": "rabbitmq"}}
		})
		waitReady(ns, "users")

		d, err := deployment(ns, "users")
		Expect(err).NotTo(HaveOccurred())
		c := d.Spec.Template.Spec.Containers[0]
		Expect(c.Ports).To(ConsistOf(
			corev1.ContainerPort{Name: "http", ContainerPort: 3000, Protocol: corev1.ProtocolTCP},
			corev1.ContainerPort{Name: "grpc", ContainerPort: 50052, Protocol: corev1.ProtocolTCP}))
		Expect(c.ReadinessProbe.GRPC).NotTo(BeNil(), "the readiness probe is not Kubernetes' grpc probe")
		Expect(c.ReadinessProbe.GRPC.Port).To(Equal(int32(50052)))
		Expect(c.LivenessProbe.HTTPGet.Path).To(Equal("/health"))
		env := map[string]corev1.EnvVar{}
		for _, e := range c.Env {
			env[e.Name] = e
		}
		Expect(env["GRPC_PORT"].Value).To(Equal("50052"))
		Expect(env["AMQP_URL"].Value).To(BeEmpty(), "AMQP_URL must come from the Secret, not be inlined")
		Expect(env["AMQP_URL"].ValueFrom).NotTo(BeNil())
		Expect(env["AMQP_URL"].ValueFrom.SecretKeyRef.Name).To(Equal("rabbitmq"))
		Expect(env["AMQP_URL"].ValueFrom.SecretKeyRef.Key).To(Equal("url"))

		svc := &corev1.Service{}
		Expect(k8s.Get(ctx(), client.ObjectKey{Namespace: ns, Name: "users"}, svc)).To(Succeed())
		Expect(svc.Spec.Ports).To(HaveLen(2))
		grpc := svc.Spec.Ports[1]
		Expect(grpc.Name).To(Equal("grpc"))
		Expect(grpc.Port).To(Equal(int32(50052)))
		Expect(grpc.TargetPort).To(Equal(intstr.FromString("grpc")))
		Expect(grpc.AppProtocol).NotTo(BeNil())
		Expect(*grpc.AppProtocol).To(Equal("grpc"))

		job := jobFor(ns, imageV1)
		Expect(job).NotTo(BeNil())
		for _, e := range job.Spec.Template.Spec.Containers[0].Env {
			Expect(e.Name).NotTo(BeElementOf("AMQP_URL", "GRPC_PORT"), "the migration Job needs neither")
		}
		servers := 0
		for _, p := range podsOf(ns, "users") {
			if p.Labels["app.kubernetes.io/component"] == "server" {
				servers++
				Expect(p.Spec.Containers[0].ReadinessProbe.GRPC).NotTo(BeNil(), "pod %s", p.Name)
			}
		}
		Expect(servers).To(Equal(2))

		By("changing the AMQP URL")
		before := podNames(ns, "users")
		setURLSecret(ns, "rabbitmq", "amqp://users:pw-2@rabbitmq:5672/")
		expectRolled(ns, "users", before)
	})
})
