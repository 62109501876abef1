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
	"crypto/rand"
	"crypto/sha256"
	"strings"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	appsv1alpha1 "github.com/userservice-dev/userservice-operator/api/v1alpha1"
)

// TestAllowedSecretLabel reconciles a UserService with --allowed-secret-label
// set: each Secret it references (database URL, JWT secret, spec.env) must
// carry the label, or the UserService reports Degraded=True, reason
// SecretNotAllowed, naming the Secret and the label and no value, and no Job
// or Deployment references the Secret. Secrets the operator generated for the
// UserService need no label.
func TestAllowedSecretLabel(t *testing.T) {
	const dbValue, apiKey = "postgres://u:db-password@db/users", "api-key-value"
	us := &appsv1alpha1.UserService{
		ObjectMeta: metav1.ObjectMeta{Name: "users", Namespace: "ns", Generation: 1, UID: "uid-1"},
		Spec: appsv1alpha1.UserServiceSpec{Image: "img:v1",
			Database: appsv1alpha1.DatabaseSpec{URLSecretRef: appsv1alpha1.DatabaseURLSecretRef{Name: "db", Key: "url"}},
			Env: []corev1.EnvVar{{Name: "API_KEY", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
				LocalObjectReference: corev1.LocalObjectReference{Name: "api"}, Key: "key"}}}},
		},
	}
	db := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: "ns"}, Data: map[string][]byte{"url": []byte(dbValue)}}
	cl := fake.NewClientBuilder().WithScheme(testScheme(t)).WithObjects(us, db).WithStatusSubresource(us).
		WithIndex(&batchv1.Job{}, migrationJobOwnerIndex, jobOwner).Build()
	sel, err := ParseSecretLabel("userservice.dev/allowed=true")
	if err != nil {
		t.Fatal(err)
	}
	r := &UserServiceReconciler{Client: cl, APIReader: cl, Recorder: events.NewFakeRecorder(10),
		DefaultImage: "img:v1", Random: rand.Reader, AllowedSecrets: sel}
	degraded := func() metav1.Condition {
		t.Helper()
		if _, err := r.Reconcile(t.Context(), ctrl.Request{NamespacedName: client.ObjectKeyFromObject(us)}); err != nil {
			t.Fatalf("Reconcile: %v", err)
		}
		got := &appsv1alpha1.UserService{}
		if err := cl.Get(t.Context(), client.ObjectKeyFromObject(us), got); err != nil {
			t.Fatal(err)
		}
		c := meta.FindStatusCondition(got.Status.Conditions, appsv1alpha1.ConditionDegraded)
		if c == nil {
			t.Fatal("no Degraded condition")
		}
		if strings.Contains(c.Message, dbValue) || strings.Contains(c.Message, apiKey) {
			t.Fatalf("the condition message holds a Secret's value: %q", c.Message)
		}
		return *c
	}
	label := func(s *corev1.Secret) {
		t.Helper()
		s.Labels = map[string]string{"userservice.dev/allowed": "true"}
		if err := cl.Update(t.Context(), s); err != nil {
			t.Fatal(err)
		}
	}
	expectNotAllowed := func(c metav1.Condition, want ...string) {
		t.Helper()
		if c.Status != metav1.ConditionTrue || c.Reason != ReasonSecretNotAllowed {
			t.Fatalf("Degraded = %s/%s (%s), want True/%s", c.Status, c.Reason, c.Message, ReasonSecretNotAllowed)
		}
		for _, w := range append(want, "userservice.dev/allowed=true") {
			if !strings.Contains(c.Message, w) {
				t.Errorf("message %q does not name %q", c.Message, w)
			}
		}
		var jobs batchv1.JobList
		if err := cl.List(t.Context(), &jobs); err != nil || len(jobs.Items) != 0 {
			t.Errorf("%d migration Jobs exist (err %v) while a Secret is not allowed, want none", len(jobs.Items), err)
		}
	}

	expectNotAllowed(degraded(), `Secret "db"`, "spec.database.urlSecretRef")
	label(db)
	expectNotAllowed(degraded(), `Secret "api"`, "spec.env[0] (API_KEY)", "does not exist")
	api := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "api", Namespace: "ns"}, Data: map[string][]byte{"key": []byte(apiKey)}}
	if err := cl.Create(t.Context(), api); err != nil {
		t.Fatal(err)
	}
	expectNotAllowed(degraded(), `Secret "api"`, "spec.env[0] (API_KEY)")
	label(api)
	if c := degraded(); c.Status != metav1.ConditionFalse {
		t.Fatalf("Degraded = %s/%s (%s) once every Secret is labelled, want False", c.Status, c.Reason, c.Message)
	}
	var jobs batchv1.JobList
	if err := cl.List(t.Context(), &jobs); err != nil || len(jobs.Items) != 1 {
		t.Fatalf("%d migration Jobs (err %v), want 1 once every Secret is allowed; the generated Secrets need no label",
			len(jobs.Items), err)
	}

	// Referencing an unlabelled JWT Secret.
	jwt := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "jwt", Namespace: "ns"},
		Data: map[string][]byte{"jwt-secret": []byte(strings.Repeat("j", 40))}}
	if err := cl.Create(t.Context(), jwt); err != nil {
		t.Fatal(err)
	}
	got := &appsv1alpha1.UserService{}
	if err := cl.Get(t.Context(), client.ObjectKeyFromObject(us), got); err != nil {
		t.Fatal(err)
	}
	got.Spec.Auth.JWTSecretRef = &appsv1alpha1.JWTSecretRef{Name: "jwt", Key: "jwt-secret"}
	got.Generation++
	if err := cl.Update(t.Context(), got); err != nil {
		t.Fatal(err)
	}
	if c := degraded(); c.Reason != ReasonSecretNotAllowed || !strings.Contains(c.Message, "spec.auth.jwtSecretRef") {
		t.Errorf("Degraded = %s (%s), want SecretNotAllowed naming spec.auth.jwtSecretRef", c.Reason, c.Message)
	}
}

func TestParseSecretLabel(t *testing.T) {
	for in, want := range map[string]string{
		"":                             "",
		"userservice.dev/allowed=true": "userservice.dev/allowed=true",
		"team-a-secrets":               "team-a-secrets",
		"k=":                           "k=",
	} {
		sel, err := ParseSecretLabel(in)
		if err != nil {
			t.Errorf("ParseSecretLabel(%q): %v", in, err)
			continue
		}
		if got := ""; sel != nil {
			got = sel.String()
			if got != want {
				t.Errorf("ParseSecretLabel(%q) = %q, want %q", in, got, want)
			}
		} else if want != "" {
			t.Errorf("ParseSecretLabel(%q) = nil, want %q", in, want)
		}
	}
	for _, bad := range []string{"bad key=x", "k=bad value", "=x", "a/b/c"} {
		if _, err := ParseSecretLabel(bad); err == nil || !strings.Contains(err.Error(), "--allowed-secret-label") {
			t.Errorf("ParseSecretLabel(%q) error = %v, want one naming --allowed-secret-label", bad, err)
		}
	}
}

func TestSecretsHash(t *testing.T) {
	key, db, jwt := sha256.Sum256([]byte("key")), sha256.Sum256([]byte("db")), sha256.Sum256([]byte("jwt"))
	base := secretsHash(key, db, jwt, nil)
	if len(base) != 16 || base != secretsHash(key, db, jwt, nil) {
		t.Fatalf("secretsHash = %q, want 16 hex digits, the same for the same inputs", base)
	}
	other := sha256.Sum256([]byte("other"))
	amqp := sha256.Sum256([]byte("amqp"))
	withEvents := secretsHash(key, db, jwt, amqp[:])
	if withEvents != secretsHash(key, db, jwt, amqp[:]) {
		t.Fatal("secretsHash with an AMQP URL is not stable")
	}
	for name, h := range map[string]string{
		"another key": secretsHash(other, db, jwt, nil), "another URL": secretsHash(key, other, jwt, nil),
		"another JWT secret": secretsHash(key, db, other, nil), "URL and JWT swapped": secretsHash(key, jwt, db, nil),
		"an AMQP URL": withEvents,
	} {
		if h == base {
			t.Errorf("%s gives the same hash %q", name, h)
		}
	}
	if secretsHash(key, db, jwt, other[:]) == withEvents {
		t.Error("another AMQP URL gives the same hash")
	}
}
