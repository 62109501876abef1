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
	"encoding/base64"
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	appsv1alpha1 "github.com/userservice-dev/userservice-operator/api/v1alpha1"
)

// newUS returns a minimal UserService as the API server would default it, changed by mutate.
func newUS(mutate func(*appsv1alpha1.UserService)) *appsv1alpha1.UserService {
	us := &appsv1alpha1.UserService{
		ObjectMeta: metav1.ObjectMeta{Name: "users", Namespace: "prod", UID: "uid-1"},
		Spec: appsv1alpha1.UserServiceSpec{
			Image:    "ghcr.io/userservice-dev/user-service:v0.1.0",
			Replicas: ptr.To[int32](2),
			Database: appsv1alpha1.DatabaseSpec{URLSecretRef: appsv1alpha1.DatabaseURLSecretRef{Name: "db", Key: "url"}},
		},
	}
	if mutate != nil {
		mutate(us)
	}
	return us
}

// inputs returns the Deployment's builder inputs for us.
func inputs(us *appsv1alpha1.UserService) Inputs {
	return Inputs{JWTSecret: JWTSecretRef(us), SecretsHash: "abc123"}
}

func TestDeployment(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*appsv1alpha1.UserService)
		check  func(t *testing.T, us *appsv1alpha1.UserService)
	}{
		{"defaults", nil, checkDeploymentDefaults},
		{"container contents", nil, checkDeploymentContainer},
		{"autoscaling leaves replicas to the HPA", func(us *appsv1alpha1.UserService) {
			us.Spec.Autoscaling = &appsv1alpha1.AutoscalingSpec{MaxReplicas: 5}
		}, func(t *testing.T, us *appsv1alpha1.UserService) {
			if r := Deployment(us, "img:v1", inputs(us)).Spec.Replicas; r != nil {
				t.Errorf("replicas = %d, want nil", *r)
			}
		}},
		{"probe overrides", func(us *appsv1alpha1.UserService) {
			us.Spec.Probes.Readiness = &appsv1alpha1.ProbeTuning{PeriodSeconds: ptr.To[int32](7), FailureThreshold: ptr.To[int32](9)}
		}, func(t *testing.T, us *appsv1alpha1.UserService) {
			p := Deployment(us, "img:v1", inputs(us)).Spec.Template.Spec.Containers[0].ReadinessProbe
			if p.PeriodSeconds != 7 || p.FailureThreshold != 9 || p.TimeoutSeconds != 1 {
				t.Errorf("readiness = %+v, want period 7, failure 9, timeout 1", p)
			}
		}},
		{"pod template settings", func(us *appsv1alpha1.UserService) {
			us.Spec.PodTemplate = appsv1alpha1.PodTemplateSpec{
				Labels:            map[string]string{"team": "a"},
				Annotations:       map[string]string{"note": "x"},
				NodeSelector:      map[string]string{"disk": "ssd"},
				PriorityClassName: "high",
				Tolerations:       []corev1.Toleration{{Key: "k", Operator: corev1.TolerationOpExists}},
			}
		}, func(t *testing.T, us *appsv1alpha1.UserService) {
			tpl := Deployment(us, "img:v1", inputs(us)).Spec.Template
			if tpl.Labels["team"] != "a" || tpl.Labels[LabelInstance] != "users" || tpl.Annotations["note"] != "x" {
				t.Errorf("template metadata = %+v", tpl.ObjectMeta)
			}
			if tpl.Spec.NodeSelector["disk"] != "ssd" || tpl.Spec.PriorityClassName != "high" || len(tpl.Spec.Tolerations) != 1 {
				t.Errorf("template spec = %+v", tpl.Spec)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.check(t, newUS(tt.mutate)) })
	}
}

// checkDeploymentDefaults checks the Deployment of a UserService with the
// defaults: replicas, selector, labels, strategy, secret hash and owner.
func checkDeploymentDefaults(t *testing.T, us *appsv1alpha1.UserService) {
	t.Helper()
	d := Deployment(us, "img:v1", inputs(us))
	if got := ptr.Deref(d.Spec.Replicas, -1); got != 2 {
		t.Errorf("replicas = %d, want 2", got)
	}
	if !equality.Semantic.DeepEqual(d.Spec.Selector.MatchLabels, map[string]string{LabelName: AppName, LabelInstance: "users"}) {
		t.Errorf("selector = %v, want name and instance only", d.Spec.Selector.MatchLabels)
	}
	if d.Labels[LabelVersion] != "v1" || d.Labels[LabelManagedBy] != ManagedBy {
		t.Errorf("labels = %v, want version v1 and managed-by", d.Labels)
	}
	if mu := d.Spec.Strategy.RollingUpdate.MaxUnavailable; mu.IntValue() != 0 {
		t.Errorf("maxUnavailable = %v, want 0", mu)
	}
	if d.Spec.Template.Annotations[AnnotationSecretHash] != "abc123" {
		t.Errorf("secret hash annotation = %q", d.Spec.Template.Annotations[AnnotationSecretHash])
	}
	if o := d.OwnerReferences; len(o) != 1 || o[0].UID != "uid-1" || !ptr.Deref(o[0].Controller, false) {
		t.Errorf("owner references = %+v, want the UserService as controller", o)
	}
}

// checkDeploymentContainer checks the user-service container of a
// UserService with the defaults: image, port, probes, preStop and security.
func checkDeploymentContainer(t *testing.T, us *appsv1alpha1.UserService) {
	t.Helper()
	d := Deployment(us, "img:v1", inputs(us))
	c := d.Spec.Template.Spec.Containers[0]
	if c.Image != "img:v1" || strings.Join(c.Args, " ") != "serve" {
		t.Errorf("image, args = %q, %v", c.Image, c.Args)
	}
	if c.Ports[0].Name != "http" || c.Ports[0].ContainerPort != 3000 {
		t.Errorf("port = %+v, want http 3000", c.Ports[0])
	}
	if c.LivenessProbe.HTTPGet.Path != "/health" || c.ReadinessProbe.GRPC == nil || c.StartupProbe == nil {
		t.Error("want liveness /health, readiness through the gRPC health service and a startup probe")
	}
	if c.Lifecycle.PreStop.Sleep.Seconds != PreStopSleepSeconds {
		t.Errorf("preStop sleep = %d", c.Lifecycle.PreStop.Sleep.Seconds)
	}
	if g := *d.Spec.Template.Spec.TerminationGracePeriodSeconds; g < PreStopSleepSeconds+5+20 {
		t.Errorf("terminationGracePeriodSeconds = %d, want >= preStop + drain + timeout", g)
	}
	sc := c.SecurityContext
	if !*sc.ReadOnlyRootFilesystem || *sc.AllowPrivilegeEscalation || sc.Capabilities.Drop[0] != "ALL" {
		t.Errorf("container security context = %+v", sc)
	}
	if psc := d.Spec.Template.Spec.SecurityContext; !*psc.RunAsNonRoot || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("pod security context = %+v", psc)
	}
}

func TestEnv(t *testing.T) {
	us := newUS(func(us *appsv1alpha1.UserService) {
		us.Spec.LogLevel = "debug"
		us.Spec.Env = []corev1.EnvVar{{Name: "Z_EXTRA", Value: "1"}, {Name: "A_EXTRA", Value: "2"}}
	})
	env := Env(us, inputs(us))
	names := make([]string, 0, len(env))
	for _, e := range env {
		names = append(names, e.Name)
	}
	want := "DATABASE_URL GRPC_PORT JWT_SECRET LOG_LEVEL SERVER_PORT SHUTDOWN_DRAIN SHUTDOWN_TIMEOUT Z_EXTRA A_EXTRA"
	if got := strings.Join(names, " "); got != want {
		t.Fatalf("env order = %s, want %s", got, want)
	}
	if env[0].Value != "" || env[0].ValueFrom.SecretKeyRef.Name != "db" || env[0].ValueFrom.SecretKeyRef.Key != "url" {
		t.Errorf("DATABASE_URL = %+v, want a secretKeyRef to db/url", env[0])
	}
	if r := env[2].ValueFrom.SecretKeyRef; r.Name != "users-jwt" || r.Key != JWTSecretKey {
		t.Errorf("JWT_SECRET ref = %+v, want users-jwt/jwt-secret", r)
	}
	if env[3].Value != "debug" {
		t.Errorf("LOG_LEVEL = %q, want debug", env[3].Value)
	}
}

func TestService(t *testing.T) {
	tests := []struct {
		name     string
		mutate   func(*appsv1alpha1.UserService)
		wantType corev1.ServiceType
		wantPort int32
	}{
		{"defaults", nil, corev1.ServiceTypeClusterIP, 80},
		{"node port", func(us *appsv1alpha1.UserService) {
			us.Spec.Service = appsv1alpha1.ServiceSpec{Type: corev1.ServiceTypeNodePort, Port: 8080}
		}, corev1.ServiceTypeNodePort, 8080},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			us := newUS(tt.mutate)
			s := Service(us)
			p := s.Spec.Ports[0]
			if s.Spec.Type != tt.wantType || p.Port != tt.wantPort || p.TargetPort != intstr.FromString("http") {
				t.Errorf("service = %s port %d -> %v", s.Spec.Type, p.Port, p.TargetPort)
			}
			if !equality.Semantic.DeepEqual(s.Spec.Selector, SelectorLabels(us)) {
				t.Errorf("selector = %v", s.Spec.Selector)
			}
			if url := ServiceURL(us); url != fmt.Sprintf("http://users.prod.svc:%d", tt.wantPort) {
				t.Errorf("service URL = %q", url)
			}
		})
	}
}

func TestPodDisruptionBudget(t *testing.T) {
	tests := []struct {
		name       string
		mutate     func(*appsv1alpha1.UserService)
		wantNil    bool
		wantMaxU   string
		wantMinAva string
	}{
		{"two replicas", nil, false, "1", ""},
		{"one replica", func(us *appsv1alpha1.UserService) { us.Spec.Replicas = ptr.To[int32](1) }, true, "", ""},
		{"explicit minAvailable", func(us *appsv1alpha1.UserService) {
			us.Spec.Replicas = ptr.To[int32](1)
			us.Spec.PodDisruptionBudget = &appsv1alpha1.PodDisruptionBudgetSpec{MinAvailable: ptr.To(intstr.FromString("50%"))}
		}, false, "", "50%"},
		{"autoscaling min 3", func(us *appsv1alpha1.UserService) {
			us.Spec.Replicas = ptr.To[int32](1)
			us.Spec.Autoscaling = &appsv1alpha1.AutoscalingSpec{MinReplicas: ptr.To[int32](3), MaxReplicas: 5}
		}, false, "1", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := PodDisruptionBudget(newUS(tt.mutate))
			if (p == nil) != tt.wantNil {
				t.Fatalf("pdb = %v, want nil = %v", p, tt.wantNil)
			}
			if p == nil {
				return
			}
			if got := intOrStringText(p.Spec.MaxUnavailable); got != tt.wantMaxU {
				t.Errorf("maxUnavailable = %q, want %q", got, tt.wantMaxU)
			}
			if got := intOrStringText(p.Spec.MinAvailable); got != tt.wantMinAva {
				t.Errorf("minAvailable = %q, want %q", got, tt.wantMinAva)
			}
		})
	}
}

// intOrStringText renders an optional IntOrString, "" for nil.
func intOrStringText(v *intstr.IntOrString) string {
	if v == nil {
		return ""
	}
	return v.String()
}

func TestHorizontalPodAutoscaler(t *testing.T) {
	if h := HorizontalPodAutoscaler(newUS(nil)); h != nil {
		t.Fatalf("hpa = %v, want nil without spec.autoscaling", h)
	}
	us := newUS(func(us *appsv1alpha1.UserService) {
		us.Spec.Autoscaling = &appsv1alpha1.AutoscalingSpec{MinReplicas: ptr.To[int32](2), MaxReplicas: 6,
			TargetCPUUtilizationPercentage: ptr.To[int32](70)}
	})
	h := HorizontalPodAutoscaler(us)
	if h.Spec.ScaleTargetRef.Name != "users" || *h.Spec.MinReplicas != 2 || h.Spec.MaxReplicas != 6 ||
		*h.Spec.Metrics[0].Resource.Target.AverageUtilization != 70 {
		t.Errorf("hpa spec = %+v", h.Spec)
	}
}

func TestJWTSecret(t *testing.T) {
	us := newUS(nil)
	random := make([]byte, JWTSecretRandomBytes)
	random[0] = 0 // A NUL byte must not reach the environment.
	s := JWTSecret(us, random)
	v := s.Data[JWTSecretKey]
	if s.Name != "users-jwt" || len(v) < 32 || strings.ContainsRune(string(v), 0) {
		t.Errorf("secret %q value %q: want users-jwt, >= 32 printable bytes", s.Name, v)
	}
	if dec, err := base64.RawURLEncoding.DecodeString(string(v)); err != nil || len(dec) != JWTSecretRandomBytes {
		t.Errorf("value does not decode to %d bytes: %v", JWTSecretRandomBytes, err)
	}
	if s.Labels[LabelManagedBy] != ManagedBy || len(s.OwnerReferences) != 1 {
		t.Errorf("labels %v, owners %v", s.Labels, s.OwnerReferences)
	}
}

func TestHashKeySecret(t *testing.T) {
	us := newUS(nil)
	s := HashKeySecret(us, make([]byte, HashKeyRandomBytes))
	if s.Name != "users-secret-hash-key" || len(s.Data[HashKeySecretKey]) < 32 || len(s.Data) != 1 {
		t.Errorf("secret %q data keys %d: want users-secret-hash-key with one key of >= 32 bytes", s.Name, len(s.Data))
	}
	if s.Labels[LabelManagedBy] != ManagedBy || len(s.OwnerReferences) != 1 || !*s.OwnerReferences[0].Controller {
		t.Errorf("labels %v, owners %v: want the managed-by label and a controller reference", s.Labels, s.OwnerReferences)
	}
}

func TestVersionLabel(t *testing.T) {
	tests := map[string]string{
		"ghcr.io/userservice-dev/user-service:v0.1.0": "v0.1.0",
		"localhost:5000/user-service":                 "",
		"localhost:5000/user-service:1.2":             "1.2",
		"user-service@sha256:abcd":                    "",
		"user-service:v1@sha256:abcd":                 "v1",
		"user-service:" + strings.Repeat("x", 64):     "",
		"user-service":                                "",
	}
	for image, want := range tests {
		if got := VersionLabel(image); got != want {
			t.Errorf("VersionLabel(%q) = %q, want %q", image, got, want)
		}
	}
}
