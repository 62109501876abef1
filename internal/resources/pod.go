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
	"cmp"
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	appsv1alpha1 "github.com/userservice-dev/userservice-operator/api/v1alpha1"
)

// Timings of graceful shutdown. The pod first sleeps in preStop while
// endpoints stop routing to it, then the service receives SIGTERM, flips
// readiness, drains for SHUTDOWN_DRAIN and shuts down within SHUTDOWN_TIMEOUT.
const (
	// PreStopSleepSeconds is the lifecycle.preStop.sleep duration.
	PreStopSleepSeconds = 5
	// ShutdownDrain is the service's SHUTDOWN_DRAIN.
	ShutdownDrain = "5s"
	// ShutdownTimeout is the service's SHUTDOWN_TIMEOUT.
	ShutdownTimeout = "20s"
	// TerminationGracePeriodSeconds covers preStop (5s) + drain (5s) + timeout (20s) + 5s of margin.
	TerminationGracePeriodSeconds = 35
	// RunAsUser is the non-root UID and GID of the containers (distroless "nonroot").
	RunAsUser = 65532
)

// SecretKey names one key of one Secret.
type SecretKey struct {
	// Name of the Secret.
	Name string
	// Key in the Secret's data.
	Key string
}

// Inputs are the values a builder needs beyond the UserService itself.
type Inputs struct {
	// Image is the image the pods run. For the Deployment it is the last
	// migrated image while a migration for a new image is pending.
	Image string
	// JWTSecret is the Secret key that becomes JWT_SECRET.
	JWTSecret SecretKey
	// SecretsHash is a hash of the referenced Secrets' data.
	SecretsHash string
}

// DatabaseSecret returns the Secret key that becomes DATABASE_URL, with the key defaulted to "url".
func DatabaseSecret(us *appsv1alpha1.UserService) SecretKey {
	ref := us.Spec.Database.URLSecretRef
	return SecretKey{Name: ref.Name, Key: orDefault(ref.Key, "url")}
}

// JWTSecretName returns the name of the generated JWT Secret of a UserService.
func JWTSecretName(us *appsv1alpha1.UserService) string {
	return us.Name + "-jwt"
}

// JWTSecretRef returns the Secret key that becomes JWT_SECRET: the user's
// spec.auth.jwtSecretRef, or the generated <name>-jwt Secret.
func JWTSecretRef(us *appsv1alpha1.UserService) SecretKey {
	if ref := us.Spec.Auth.JWTSecretRef; ref != nil {
		return SecretKey{Name: ref.Name, Key: orDefault(ref.Key, JWTSecretKey)}
	}
	return SecretKey{Name: JWTSecretName(us), Key: JWTSecretKey}
}

// Env returns the service container's environment: the operator's variables
// (with JWT_SECRET, GRPC_PORT and AMQP_URL, which only `serve` reads)
// sorted by name, then the user's spec.env in its own order. Secrets are
// referenced, never inlined.
func Env(us *appsv1alpha1.UserService, in Inputs) []corev1.EnvVar {
	return env(us, append([]corev1.EnvVar{secretEnv("JWT_SECRET", in.JWTSecret), grpcEnv(us)}, eventsEnv(us)...)...)
}

// MigrationEnv returns the migration container's environment: the service's
// without JWT_SECRET, which `user-service migrate` does not read, so that a
// migration Job never holds the signing secret.
func MigrationEnv(us *appsv1alpha1.UserService) []corev1.EnvVar {
	return env(us)
}

// env returns the operator's variables and extra, sorted by name, then the user's spec.env in its own order.
func env(us *appsv1alpha1.UserService, extra ...corev1.EnvVar) []corev1.EnvVar {
	env := append([]corev1.EnvVar{
		secretEnv("DATABASE_URL", DatabaseSecret(us)),
		{Name: "LOG_LEVEL", Value: orDefault(us.Spec.LogLevel, "info")},
		{Name: "SERVER_PORT", Value: "3000"},
		{Name: "SHUTDOWN_DRAIN", Value: ShutdownDrain},
		{Name: "SHUTDOWN_TIMEOUT", Value: ShutdownTimeout},
	}, extra...)
	slices.SortFunc(env, func(a, b corev1.EnvVar) int { return cmp.Compare(a.Name, b.Name) })
	return append(env, us.Spec.Env...)
}

// secretEnv returns an environment variable read from a Secret key.
func secretEnv(name string, ref SecretKey) corev1.EnvVar {
	return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
		LocalObjectReference: corev1.LocalObjectReference{Name: ref.Name},
		Key:                  ref.Key,
	}}}
}

// Resources returns spec.resources, or the defaults (requests 64Mi/100m, limits 256Mi/500m) when unset.
func Resources(us *appsv1alpha1.UserService) corev1.ResourceRequirements {
	if us.Spec.Resources != nil {
		return *us.Spec.Resources.DeepCopy()
	}
	return corev1.ResourceRequirements{
		Requests: corev1.ResourceList{
			corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("64Mi"),
		},
		Limits: corev1.ResourceList{
			corev1.ResourceCPU: resource.MustParse("500m"), corev1.ResourceMemory: resource.MustParse("256Mi"),
		},
	}
}

// PodSecurityContext returns a pod security context that satisfies the restricted Pod Security Standard.
func PodSecurityContext() *corev1.PodSecurityContext {
	return &corev1.PodSecurityContext{
		RunAsNonRoot:   ptr.To(true),
		RunAsUser:      ptr.To[int64](RunAsUser),
		RunAsGroup:     ptr.To[int64](RunAsUser),
		SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
}

// ContainerSecurityContext returns a container security context that satisfies the restricted Pod Security Standard.
func ContainerSecurityContext() *corev1.SecurityContext {
	return &corev1.SecurityContext{
		AllowPrivilegeEscalation: ptr.To(false),
		ReadOnlyRootFilesystem:   ptr.To(true),
		RunAsNonRoot:             ptr.To(true),
		Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
}

// container returns the user-service container running image with env and
// args, shared by the Deployment and the migration Job.
func container(us *appsv1alpha1.UserService, image string, env []corev1.EnvVar, args ...string) corev1.Container {
	return corev1.Container{
		Name:            ContainerName,
		Image:           image,
		ImagePullPolicy: us.Spec.ImagePullPolicy,
		Args:            args,
		Env:             env,
		Resources:       Resources(us),
		SecurityContext: ContainerSecurityContext(),
	}
}

// podSpec returns the pod spec shared by the Deployment and the migration Job, around c.
func podSpec(us *appsv1alpha1.UserService, c corev1.Container) corev1.PodSpec {
	pt := us.Spec.PodTemplate
	return corev1.PodSpec{
		Containers:                   []corev1.Container{c},
		SecurityContext:              PodSecurityContext(),
		ImagePullSecrets:             slices.Clone(us.Spec.ImagePullSecrets),
		AutomountServiceAccountToken: ptr.To(false),
		EnableServiceLinks:           ptr.To(false),
		NodeSelector:                 pt.NodeSelector,
		Tolerations:                  slices.Clone(pt.Tolerations),
		Affinity:                     pt.Affinity.DeepCopy(),
		TopologySpreadConstraints:    slices.Clone(pt.TopologySpreadConstraints),
		PriorityClassName:            pt.PriorityClassName,
	}
}

// httpGet returns a probe handler that GETs path on the http port.
func httpGet(path string) corev1.ProbeHandler {
	return corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
		Path: path, Port: intstr.FromString(HTTPPortName), Scheme: corev1.URISchemeHTTP,
	}}
}

// probe returns a probe through handler, with the user's overrides applied.
func probe(handler corev1.ProbeHandler, period, failure int32, o *appsv1alpha1.ProbeTuning) *corev1.Probe {
	p := &corev1.Probe{
		ProbeHandler:     handler,
		PeriodSeconds:    period,
		TimeoutSeconds:   1,
		SuccessThreshold: 1,
		FailureThreshold: failure,
	}
	if o == nil {
		return p
	}
	p.InitialDelaySeconds = ptr.Deref(o.InitialDelaySeconds, p.InitialDelaySeconds)
	p.PeriodSeconds = ptr.Deref(o.PeriodSeconds, p.PeriodSeconds)
	p.TimeoutSeconds = ptr.Deref(o.TimeoutSeconds, p.TimeoutSeconds)
	p.FailureThreshold = ptr.Deref(o.FailureThreshold, p.FailureThreshold)
	return p
}

// orDefault returns s, or def when s is empty.
func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
