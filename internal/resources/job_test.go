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
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/utils/ptr"

	appsv1alpha1 "github.com/userservice-dev/userservice-operator/api/v1alpha1"
)

func TestMigrationJobName(t *testing.T) {
	base := newUS(nil)
	baseName := MigrationJobName(base, "img:v1")
	tests := []struct {
		name   string
		image  string
		mutate func(*appsv1alpha1.UserService)
		same   bool
	}{
		{"same inputs", "img:v1", nil, true},
		{"replicas do not matter", "img:v1", func(us *appsv1alpha1.UserService) { us.Spec.Replicas = ptr.To[int32](9) }, true},
		{"log level (LOG_LEVEL env)", "img:v1", func(us *appsv1alpha1.UserService) { us.Spec.LogLevel = "debug" }, false},
		{"pod annotations do not matter", "img:v1", func(us *appsv1alpha1.UserService) {
			us.Spec.PodTemplate.Annotations = map[string]string{"a": "b"}
		}, true},
		{"image pull secrets", "img:v1", func(us *appsv1alpha1.UserService) {
			us.Spec.ImagePullSecrets = []corev1.LocalObjectReference{{Name: "regcred"}}
		}, false},
		{"image pull policy", "img:v1", func(us *appsv1alpha1.UserService) { us.Spec.ImagePullPolicy = corev1.PullAlways }, false},
		{"node selector", "img:v1", func(us *appsv1alpha1.UserService) {
			us.Spec.PodTemplate.NodeSelector = map[string]string{"disk": "ssd"}
		}, false},
		{"tolerations", "img:v1", func(us *appsv1alpha1.UserService) {
			us.Spec.PodTemplate.Tolerations = []corev1.Toleration{{Key: "k", Operator: corev1.TolerationOpExists}}
		}, false},
		{"affinity", "img:v1", func(us *appsv1alpha1.UserService) {
			us.Spec.PodTemplate.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{}}
		}, false},
		{"resources", "img:v1", func(us *appsv1alpha1.UserService) {
			us.Spec.Resources = &corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1Gi")}}
		}, false},
		{"JWT secret reference does not matter: the Job has no JWT_SECRET", "img:v1", func(us *appsv1alpha1.UserService) {
			us.Spec.Auth.JWTSecretRef = &appsv1alpha1.JWTSecretRef{Name: "jwt", Key: "k"}
		}, true},
		{"new image", "img:v2", nil, false},
		{"backoff limit", "img:v1", func(us *appsv1alpha1.UserService) { us.Spec.Migrations.BackoffLimit = ptr.To[int32](5) }, false},
		{"deadline", "img:v1", func(us *appsv1alpha1.UserService) { us.Spec.Migrations.ActiveDeadlineSeconds = ptr.To[int64](60) }, false},
		{"database secret", "img:v1", func(us *appsv1alpha1.UserService) { us.Spec.Database.URLSecretRef.Name = "other" }, false},
		{"env", "img:v1", func(us *appsv1alpha1.UserService) { us.Spec.Env = []corev1.EnvVar{{Name: "X", Value: "1"}} }, false},
		{"gRPC does not matter", "img:v1", func(us *appsv1alpha1.UserService) { us.Spec.GRPC.Port = 9090 }, true},
		{"events do not matter", "img:v1", func(us *appsv1alpha1.UserService) {
			us.Spec.Events.AMQPURLSecretRef = &appsv1alpha1.AMQPURLSecretRef{Name: "rabbitmq"}
		}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := MigrationJobName(newUS(tt.mutate), tt.image)
			if (got == baseName) != tt.same {
				t.Errorf("name %q vs base %q: same = %v, want %v", got, baseName, got == baseName, tt.same)
			}
		})
	}
	if job := MigrationJob(base, "img:v1"); job.Name != baseName {
		t.Errorf("MigrationJob named %q, MigrationJobName says %q", job.Name, baseName)
	}
	// Names of Jobs that exist in clusters: a change starts every UserService's migration again.
	if got := MigrationJobName(base, "img:v7"); got != "users-migrate-8160526db0" {
		t.Errorf("MigrationJobName = %q, want users-migrate-8160526db0 as before: the name hashes the Job's spec without its TTL", got)
	}
	long := newUS(func(us *appsv1alpha1.UserService) { us.Name = strings.Repeat("a", 44) })
	if n := MigrationJobName(long, "img"); len(n) > 63 {
		t.Errorf("job name %q has %d characters, want <= 63", n, len(n))
	}
}

func TestMigrationJob(t *testing.T) {
	us := newUS(nil)
	j := MigrationJob(us, "img:v2")
	c := j.Spec.Template.Spec.Containers[0]
	if strings.Join(c.Args, " ") != "migrate up" || c.Image != "img:v2" {
		t.Errorf("container = %q %v, want img:v2 migrate up", c.Image, c.Args)
	}
	d := Deployment(us, "img:v2", inputs(us))
	withoutServerOnly := slices.DeleteFunc(slices.Clone(d.Spec.Template.Spec.Containers[0].Env),
		func(e corev1.EnvVar) bool { return e.Name == "JWT_SECRET" || e.Name == "GRPC_PORT" })
	if !equality.Semantic.DeepEqual(c.Env, withoutServerOnly) {
		t.Errorf("the Job's env %v is not the Deployment's without JWT_SECRET and GRPC_PORT %v", c.Env, withoutServerOnly)
	}
	if !equality.Semantic.DeepEqual(c.SecurityContext, d.Spec.Template.Spec.Containers[0].SecurityContext) ||
		!equality.Semantic.DeepEqual(j.Spec.Template.Spec.SecurityContext, d.Spec.Template.Spec.SecurityContext) {
		t.Error("the Job's security context differs from the Deployment's")
	}
	if *j.Spec.BackoffLimit != 3 || *j.Spec.ActiveDeadlineSeconds != 600 || ptr.Deref(j.Spec.TTLSecondsAfterFinished, 0) != 3600 {
		t.Errorf("job spec = backoff %d, deadline %d, ttl %v, want 3, 600 and 3600",
			*j.Spec.BackoffLimit, *j.Spec.ActiveDeadlineSeconds, ptr.Deref(j.Spec.TTLSecondsAfterFinished, -1))
	}
	if j.Spec.Template.Spec.RestartPolicy != corev1.RestartPolicyNever || j.Annotations[AnnotationImage] != "img:v2" {
		t.Errorf("restartPolicy %q, image annotation %q", j.Spec.Template.Spec.RestartPolicy, j.Annotations[AnnotationImage])
	}
	sel := SelectorLabels(us)
	matches := true
	for k, v := range sel {
		matches = matches && j.Spec.Template.Labels[k] == v
	}
	if matches {
		t.Errorf("migration pods %v match the Service selector %v", j.Spec.Template.Labels, sel)
	}
}

// TestMigrationJobSharesNothing checks that a built Job shares no slice or
// map with another Job or with the UserService, so that changing one cannot
// change the other.
func TestMigrationJobSharesNothing(t *testing.T) {
	us := newUS(func(us *appsv1alpha1.UserService) {
		us.Spec.PodTemplate.NodeSelector = map[string]string{"disk": "ssd"}
		us.Spec.Env = []corev1.EnvVar{{Name: "X", ValueFrom: &corev1.EnvVarSource{
			ConfigMapKeyRef: &corev1.ConfigMapKeySelector{Key: "k"}}}}
	})
	a, b := MigrationJob(us, "img:v1"), MigrationJob(us, "img:v1")
	pa := &a.Spec.Template.Spec
	pa.Containers[0].Args[0] = "changed"
	pa.NodeSelector["disk"] = "changed"
	pa.Containers[0].Env[len(pa.Containers[0].Env)-1].ValueFrom.ConfigMapKeyRef.Key = "changed"
	if got := strings.Join(b.Spec.Template.Spec.Containers[0].Args, " "); got != "migrate up" {
		t.Errorf("another Job's args = %q, want migrate up", got)
	}
	if us.Spec.PodTemplate.NodeSelector["disk"] != "ssd" || us.Spec.Env[0].ValueFrom.ConfigMapKeyRef.Key != "k" {
		t.Errorf("changing a Job changed the UserService: %v, %+v", us.Spec.PodTemplate.NodeSelector, us.Spec.Env[0].ValueFrom)
	}
}
