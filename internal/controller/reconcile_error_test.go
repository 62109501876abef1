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
	"context"
	"crypto/rand"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	appsv1alpha1 "github.com/userservice-dev/userservice-operator/api/v1alpha1"
	"github.com/userservice-dev/userservice-operator/internal/resources"
)

// TestReconcileErrorIsNotReady runs Reconcile for a new generation whose
// database Secret cannot be read (Forbidden) while the Deployment of the
// previous generation is rolled out with the same image: the status must say
// Ready=False with reason ReconcileError, not Ready=True for a spec never applied.
func TestReconcileErrorIsNotReady(t *testing.T) {
	us := &appsv1alpha1.UserService{
		ObjectMeta: metav1.ObjectMeta{Name: "users", Namespace: "ns", Generation: 2, UID: "uid-1"},
		Spec: appsv1alpha1.UserServiceSpec{Image: "img:v2", Replicas: ptr.To[int32](2),
			Database: appsv1alpha1.DatabaseSpec{URLSecretRef: appsv1alpha1.DatabaseURLSecretRef{Name: "db", Key: "url"}}},
	}
	jwt := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "users-jwt", Namespace: "ns",
		OwnerReferences: []metav1.OwnerReference{resources.OwnerReference(us)}},
		Data: map[string][]byte{"jwt-secret": make([]byte, 32)}}
	dep := deployment("img:v2", 2, 2, 2, true)
	dep.Namespace = "ns"
	cl := fake.NewClientBuilder().WithScheme(testScheme(t)).WithObjects(us, jwt, dep).
		WithStatusSubresource(us).Build()
	forbidden := interceptor.NewClient(cl, interceptor.Funcs{
		Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
			if _, ok := obj.(*corev1.Secret); ok && key.Name == "db" {
				return apierrors.NewForbidden(schema.GroupResource{Resource: "secrets"}, key.Name, nil)
			}
			return c.Get(ctx, key, obj, opts...)
		},
	})
	r := &UserServiceReconciler{Client: cl, APIReader: forbidden, Recorder: events.NewFakeRecorder(10),
		DefaultImage: "img:v1", Random: rand.Reader}
	_, err := r.Reconcile(t.Context(), ctrl.Request{NamespacedName: client.ObjectKeyFromObject(us)})
	if !apierrors.IsForbidden(err) {
		t.Fatalf("Reconcile error = %v, want the Forbidden error", err)
	}
	got := &appsv1alpha1.UserService{}
	if err := cl.Get(t.Context(), client.ObjectKeyFromObject(us), got); err != nil {
		t.Fatal(err)
	}
	ready := meta.FindStatusCondition(got.Status.Conditions, appsv1alpha1.ConditionReady)
	if ready == nil || ready.Status != metav1.ConditionFalse || ready.Reason != ReasonReconcileError {
		t.Fatalf("Ready = %+v, want False/%s", ready, ReasonReconcileError)
	}
	if want := `Reconciling the database Secret failed (Forbidden)`; !strings.Contains(ready.Message, want) {
		t.Errorf("Ready message %q does not contain %q", ready.Message, want)
	}
}

// testScheme returns a scheme with the built-in and UserService types.
func testScheme(t *testing.T) *runtime.Scheme {
	t.Helper()
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	if err := appsv1alpha1.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	return s
}
