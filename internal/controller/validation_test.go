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
package controller

import (
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	appsv1alpha1 "github.com/userservice-dev/userservice-operator/api/v1alpha1"
	"github.com/userservice-dev/userservice-operator/internal/resources"
)

var _ = Describe("UserService validation", func() {
	var ns string
	BeforeEach(func() { ns = newNamespace() })

	// valid returns a valid UserService, changed by mutate.
	valid := func(mutate func(*appsv1alpha1.UserService)) *appsv1alpha1.UserService {
		us := &appsv1alpha1.UserService{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "users"},
			Spec: appsv1alpha1.UserServiceSpec{
				Database: appsv1alpha1.DatabaseSpec{URLSecretRef: appsv1alpha1.DatabaseURLSecretRef{Name: "db"}},
			},
		}
		mutate(us)
		return us
	}

	It("accepts a minimal spec and applies the documented defaults", func() {
		us := valid(func(*appsv1alpha1.UserService) {})
		Expect(k8sClient.Create(ctx, us, client.DryRunAll)).To(Succeed())
		Expect(*us.Spec.Replicas).To(Equal(int32(2)))
		Expect(us.Spec.Database.URLSecretRef.Key).To(Equal("url"))
		Expect(*us.Spec.Migrations.Enabled).To(BeTrue())
		Expect(*us.Spec.Migrations.BackoffLimit).To(Equal(int32(3)))
		Expect(*us.Spec.Migrations.ActiveDeadlineSeconds).To(Equal(int64(600)))
		Expect(us.Spec.Service.Type).To(Equal(corev1.ServiceTypeClusterIP))
		Expect(us.Spec.Service.Port).To(Equal(int32(80)))
		Expect(us.Spec.LogLevel).To(Equal("info"))
		Expect(us.Spec.Resources.Limits.Memory().String()).To(Equal("256Mi"))
		Expect(us.Spec.Resources.Requests.Cpu().String()).To(Equal("100m"))
		Expect(*us.Spec.GRPC.Enabled).To(BeTrue())
		Expect(us.Spec.GRPC.Port).To(Equal(int32(50051)))
		Expect(us.Spec.Events.AMQPURLSecretRef).To(BeNil())
	})

	It("accepts gRPC turned off on the Service's port, and defaults the events Secret key", func() {
		us := valid(func(us *appsv1alpha1.UserService) {
			us.Spec.GRPC = appsv1alpha1.GRPCSpec{Enabled: ptr.To(false), Port: 80}
			us.Spec.Events.AMQPURLSecretRef = &appsv1alpha1.AMQPURLSecretRef{Name: "rabbitmq"}
		})
		Expect(k8sClient.Create(ctx, us, client.DryRunAll)).To(Succeed())
		Expect(us.Spec.Events.AMQPURLSecretRef.Key).To(Equal("url"))
	})

	DescribeTable("rejects an invalid spec with a message that says what to fix",
		func(mutate func(*appsv1alpha1.UserService), message string) {
			err := k8sClient.Create(ctx, valid(mutate), client.DryRunAll)
			Expect(err).To(HaveOccurred())
			Expect(err.Error()).To(ContainSubstring(message))
		},
		Entry("negative replicas", func(us *appsv1alpha1.UserService) { us.Spec.Replicas = ptr.To[int32](-1) },
			"spec.replicas: Invalid value: -1: spec.replicas in body should be greater than or equal to 0"),
		Entry("empty database Secret name", func(us *appsv1alpha1.UserService) { us.Spec.Database.URLSecretRef.Name = "" },
			"spec.database.urlSecretRef.name in body should be at least 1 chars long"),
		Entry("invalid database Secret key", func(us *appsv1alpha1.UserService) { us.Spec.Database.URLSecretRef.Key = "bad key!" },
			"spec.database.urlSecretRef.key in body should match"),
		Entry("invalid JWT Secret name", func(us *appsv1alpha1.UserService) {
			us.Spec.Auth.JWTSecretRef = &appsv1alpha1.JWTSecretRef{Name: "Bad_Name"}
		}, "spec.auth.jwtSecretRef.name in body should match"),
		Entry("env overriding DATABASE_URL", func(us *appsv1alpha1.UserService) {
			us.Spec.Env = []corev1.EnvVar{{Name: "DATABASE_URL", Value: "postgres://x"}}
		}, "spec.env must not set DATABASE_URL or JWT_SECRET: use spec.database.urlSecretRef and spec.auth.jwtSecretRef instead"),
		Entry("env overriding JWT_SECRET", func(us *appsv1alpha1.UserService) {
			us.Spec.Env = []corev1.EnvVar{{Name: "OK", Value: "1"}, {Name: "JWT_SECRET", Value: "x"}}
		}, "spec.env must not set DATABASE_URL or JWT_SECRET"),
		Entry("env overriding SERVER_PORT", func(us *appsv1alpha1.UserService) {
			us.Spec.Env = []corev1.EnvVar{{Name: "SERVER_PORT", Value: "8080"}}
		}, "spec.env must not set SERVER_PORT, LOG_LEVEL, SHUTDOWN_DRAIN or SHUTDOWN_TIMEOUT"),
		Entry("env overriding GRPC_PORT", func(us *appsv1alpha1.UserService) {
			us.Spec.Env = []corev1.EnvVar{{Name: "GRPC_PORT", Value: "9090"}}
		}, "spec.env must not set GRPC_PORT or AMQP_URL: use spec.grpc and spec.events.amqpURLSecretRef instead"),
		Entry("env setting AMQP_URL", func(us *appsv1alpha1.UserService) {
			us.Spec.Env = []corev1.EnvVar{{Name: "AMQP_URL", Value: "amqp://guest:guest@rabbitmq"}}
		}, "spec.env must not set GRPC_PORT or AMQP_URL"),
		Entry("gRPC on the HTTP port", func(us *appsv1alpha1.UserService) { us.Spec.GRPC.Port = 3000 },
			"spec.grpc.port must not be 3000: that is the pods' HTTP port"),
		Entry("gRPC port out of range", func(us *appsv1alpha1.UserService) { us.Spec.GRPC.Port = 70000 },
			"spec.grpc.port in body should be less than or equal to 65535"),
		Entry("gRPC on the Service's HTTP port", func(us *appsv1alpha1.UserService) {
			us.Spec.GRPC.Port = 8080
			us.Spec.Service.Port = 8080
		}, "spec.grpc.port must differ from spec.service.port: the Service serves both"),
		Entry("invalid events Secret name", func(us *appsv1alpha1.UserService) {
			us.Spec.Events.AMQPURLSecretRef = &appsv1alpha1.AMQPURLSecretRef{Name: "Bad_Name"}
		}, "spec.events.amqpURLSecretRef.name in body should match"),
		Entry("unknown log level", func(us *appsv1alpha1.UserService) { us.Spec.LogLevel = "verbose" },
			`spec.logLevel: Unsupported value: "verbose": supported values: "debug", "info", "warn", "error"`),
		Entry("unknown image pull policy", func(us *appsv1alpha1.UserService) { us.Spec.ImagePullPolicy = "Sometimes" },
			`spec.imagePullPolicy: Unsupported value: "Sometimes"`),
		Entry("image with a space", func(us *appsv1alpha1.UserService) { us.Spec.Image = "user service:v1" },
			"spec.image in body should match"),
		Entry("ExternalName Service", func(us *appsv1alpha1.UserService) { us.Spec.Service.Type = corev1.ServiceTypeExternalName },
			`spec.service.type: Unsupported value: "ExternalName"`),
		Entry("Service port out of range", func(us *appsv1alpha1.UserService) { us.Spec.Service.Port = 70000 },
			"spec.service.port in body should be less than or equal to 65535"),
		Entry("autoscaling min above max", func(us *appsv1alpha1.UserService) {
			us.Spec.Autoscaling = &appsv1alpha1.AutoscalingSpec{MinReplicas: ptr.To[int32](5), MaxReplicas: 3}
		}, "spec.autoscaling.minReplicas must be less than or equal to maxReplicas"),
		Entry("CPU target above 100%", func(us *appsv1alpha1.UserService) {
			us.Spec.Autoscaling = &appsv1alpha1.AutoscalingSpec{MaxReplicas: 3, TargetCPUUtilizationPercentage: ptr.To[int32](150)}
		}, "spec.autoscaling.targetCPUUtilizationPercentage in body should be less than or equal to 100"),
		Entry("budget with both fields", func(us *appsv1alpha1.UserService) {
			us.Spec.PodDisruptionBudget = &appsv1alpha1.PodDisruptionBudgetSpec{
				MinAvailable: ptr.To(intstr.FromInt32(1)), MaxUnavailable: ptr.To(intstr.FromInt32(1))}
		}, "spec.podDisruptionBudget must set exactly one of minAvailable or maxUnavailable"),
		Entry("budget with neither field", func(us *appsv1alpha1.UserService) {
			us.Spec.PodDisruptionBudget = &appsv1alpha1.PodDisruptionBudgetSpec{}
		}, "spec.podDisruptionBudget must set exactly one of minAvailable or maxUnavailable"),
		Entry("negative backoff limit", func(us *appsv1alpha1.UserService) { us.Spec.Migrations.BackoffLimit = ptr.To[int32](-1) },
			"spec.migrations.backoffLimit in body should be greater than or equal to 0"),
		Entry("zero migration deadline", func(us *appsv1alpha1.UserService) {
			us.Spec.Migrations.ActiveDeadlineSeconds = ptr.To[int64](0)
		}, "spec.migrations.activeDeadlineSeconds in body should be greater than or equal to 1"),
		Entry("probe timeout above its period", func(us *appsv1alpha1.UserService) {
			us.Spec.Probes.Readiness = &appsv1alpha1.ProbeTuning{PeriodSeconds: ptr.To[int32](5), TimeoutSeconds: ptr.To[int32](10)}
		}, "timeoutSeconds must not exceed periodSeconds"),
		Entry("zero probe period", func(us *appsv1alpha1.UserService) {
			us.Spec.Probes.Liveness = &appsv1alpha1.ProbeTuning{PeriodSeconds: ptr.To[int32](0)}
		}, "spec.probes.liveness.periodSeconds in body should be greater than or equal to 1"),
		Entry("pod label overriding the selector", func(us *appsv1alpha1.UserService) {
			us.Spec.PodTemplate.Labels = map[string]string{"app.kubernetes.io/instance": "other"}
		}, "spec.podTemplate.labels must not set app.kubernetes.io/name, instance, managed-by or version"),
		Entry("pod label key with a space", func(us *appsv1alpha1.UserService) {
			us.Spec.PodTemplate.Labels = map[string]string{"team name": "a"}
		}, "spec.podTemplate.labels keys must be label keys"),
		Entry("pod label key with an empty prefix", func(us *appsv1alpha1.UserService) {
			us.Spec.PodTemplate.Labels = map[string]string{"/team": "a"}
		}, "spec.podTemplate.labels keys must be label keys"),
		Entry("pod label key of 64 characters", func(us *appsv1alpha1.UserService) {
			us.Spec.PodTemplate.Labels = map[string]string{strings.Repeat("a", 64): "a"}
		}, "spec.podTemplate.labels keys must be label keys"),
		Entry("node selector key with a space", func(us *appsv1alpha1.UserService) {
			us.Spec.PodTemplate.NodeSelector = map[string]string{"disk type": "ssd"}
		}, "spec.podTemplate.nodeSelector keys must be label keys"),
		Entry("CPU request above its limit", func(us *appsv1alpha1.UserService) {
			us.Spec.Resources = &corev1.ResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2")},
				Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m")},
			}
		}, "spec.resources.requests must not exceed spec.resources.limits"),
		Entry("memory request above its limit", func(us *appsv1alpha1.UserService) {
			us.Spec.Resources = &corev1.ResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1Gi")},
				Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("256Mi"), corev1.ResourceCPU: resource.MustParse("1")},
			}
		}, "spec.resources.requests must not exceed spec.resources.limits"),
		Entry("name too long for Job names", func(us *appsv1alpha1.UserService) { us.Name = strings.Repeat("a", 45) },
			"metadata.name must be at most 44 characters"),
		Entry("name starting with a digit", func(us *appsv1alpha1.UserService) { us.Name = "1users" },
			"metadata.name must start with a lowercase letter"),
	)

	It("accepts valid label keys, and requests up to their limits", func() {
		us := valid(func(us *appsv1alpha1.UserService) {
			us.Spec.PodTemplate.Labels = map[string]string{"example.com/team": "a_b.c-1", "tier": "", strings.Repeat("k", 63): "v"}
			us.Spec.PodTemplate.NodeSelector = map[string]string{"kubernetes.io/os": "linux", "sub.example.com/disk": "ssd"}
			us.Spec.Resources = &corev1.ResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m"),
					corev1.ResourceMemory: resource.MustParse("256Mi"), corev1.ResourceEphemeralStorage: resource.MustParse("1Gi")},
				Limits: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("0.5"), corev1.ResourceMemory: resource.MustParse("1Gi")},
			}
		})
		Expect(k8sClient.Create(ctx, us, client.DryRunAll)).To(Succeed())
	})

	It("compares requests with limits given as plain numbers", func() {
		u := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "apps.userservice.dev/v1alpha1", "kind": "UserService",
			"metadata": map[string]any{"name": "users", "namespace": ns},
			"spec": map[string]any{"database": map[string]any{"urlSecretRef": map[string]any{"name": "db"}},
				"resources": map[string]any{"requests": map[string]any{"cpu": int64(2)}, "limits": map[string]any{"cpu": int64(1)}}},
		}}
		err := k8sClient.Create(ctx, u, client.DryRunAll)
		Expect(err).To(MatchError(ContainSubstring("spec.resources.requests must not exceed spec.resources.limits")))
		u.Object["spec"].(map[string]any)["resources"] = map[string]any{
			"requests": map[string]any{"cpu": int64(1)}, "limits": map[string]any{"cpu": "1000m"}}
		Expect(k8sClient.Create(ctx, u, client.DryRunAll)).To(Succeed())
	})

	It("rejects a spec without a database", func() {
		u := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "apps.userservice.dev/v1alpha1", "kind": "UserService",
			"metadata": map[string]any{"name": "users", "namespace": ns},
			"spec":     map[string]any{"replicas": int64(1)},
		}}
		err := k8sClient.Create(ctx, u, client.DryRunAll)
		Expect(err).To(HaveOccurred())
		Expect(err.Error()).To(ContainSubstring(`spec.database: Required value`))
	})
})

var _ = Describe("Pod Security", func() {
	It("admits every pod template the operator creates in a namespace enforcing restricted", func() {
		ns := newNamespace()
		By("checking that the namespace enforces restricted, so this spec can fail")
		bad := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "bad"},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
		}
		err := k8sClient.Create(ctx, bad, client.DryRunAll)
		Expect(err).To(HaveOccurred())
		Expect(err.Error()).To(ContainSubstring(`violates PodSecurity "restricted`))

		for name, mutate := range map[string]func(*appsv1alpha1.UserService){
			"defaults": func(*appsv1alpha1.UserService) {},
			"every pod setting": func(us *appsv1alpha1.UserService) {
				us.Spec.ImagePullPolicy = corev1.PullAlways
				us.Spec.ImagePullSecrets = []corev1.LocalObjectReference{{Name: "registry"}}
				us.Spec.PodTemplate = appsv1alpha1.PodTemplateSpec{
					Labels: map[string]string{"team": "a"}, Annotations: map[string]string{"a": "b"},
					NodeSelector: map[string]string{"disk": "ssd"}, PriorityClassName: "",
					Tolerations: []corev1.Toleration{{Key: "k", Operator: corev1.TolerationOpExists}},
				}
				us.Spec.Env = []corev1.EnvVar{{Name: "AUTH_REQUIRED_FOR_READS", Value: "true"}}
				us.Spec.Auth.JWTSecretRef = &appsv1alpha1.JWTSecretRef{Name: "jwt", Key: "k"}
			},
		} {
			us := &appsv1alpha1.UserService{
				ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "users", UID: "00000000-0000-0000-0000-000000000001"},
				Spec: appsv1alpha1.UserServiceSpec{
					Database: appsv1alpha1.DatabaseSpec{URLSecretRef: appsv1alpha1.DatabaseURLSecretRef{Name: "db", Key: "url"}},
				},
			}
			mutate(us)
			in := resources.Inputs{Image: defaultImage, JWTSecret: resources.JWTSecretRef(us), SecretsHash: "h"}
			templates := map[string]corev1.PodTemplateSpec{
				"deployment":    resources.Deployment(us, in).Spec.Template,
				"migration job": resources.MigrationJob(us, defaultImage).Spec.Template,
			}
			for kind, tpl := range templates {
				pod := &corev1.Pod{
					ObjectMeta: metav1.ObjectMeta{Namespace: ns, GenerateName: "users-", Labels: tpl.Labels, Annotations: tpl.Annotations},
					Spec:       tpl.Spec,
				}
				Expect(k8sClient.Create(ctx, pod, client.DryRunAll)).To(Succeed(), "%s pod, %s", kind, name)
			}
		}
	})
})
