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
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
)

// countingReader returns a client holding the Secrets ns/db and other/db,
// which counts its Gets in *gets and runs during (if set) inside each Get.
func countingReader(t *testing.T, gets *int, during *func()) client.Client {
	t.Helper()
	secret := func(ns string) *corev1.Secret {
		return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "db"}, Data: map[string][]byte{"url": []byte(ns)}}
	}
	cl := fake.NewClientBuilder().WithScheme(testScheme(t)).WithObjects(secret("ns"), secret("other")).Build()
	return interceptor.NewClient(cl, interceptor.Funcs{
		Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
			*gets++
			if *during != nil {
				(*during)()
			}
			return c.Get(ctx, key, obj, opts...)
		},
	})
}

func TestReferencedSecretsRemembersUntilForgotten(t *testing.T) {
	gets, during := 0, func() {}
	reader := countingReader(t, &gets, &during)
	c := newReferencedSecrets()
	key, other := client.ObjectKey{Namespace: "ns", Name: "db"}, client.ObjectKey{Namespace: "other", Name: "db"}
	read := func(k client.ObjectKey) string {
		data, err := c.get(t.Context(), reader, k)
		if err != nil {
			t.Fatalf("get %v: %v", k, err)
		}
		return string(data["url"])
	}
	if read(key) != "ns" || read(key) != "ns" || gets != 1 {
		t.Fatalf("two gets read the API %d times, want 1", gets)
	}
	c.forget(key)
	if read(key); gets != 2 {
		t.Fatalf("a get after forget read the API %d times in all, want 2", gets)
	}
	read(other)
	c.forgetAll("other")
	if read(key); gets != 3 {
		t.Errorf("forgetAll(other) dropped a Secret of another namespace")
	}
	if read(other); gets != 4 {
		t.Errorf("forgetAll(other) kept a Secret of its namespace")
	}
	during = func() { c.forget(key) }
	c.forget(key)
	read(key)
	during = nil
	if read(key); gets != 6 {
		t.Errorf("a read that raced with forget was remembered: %d API reads, want 6", gets)
	}
	if _, err := c.get(t.Context(), reader, client.ObjectKey{Namespace: "ns", Name: "missing"}); !apierrors.IsNotFound(err) {
		t.Errorf("get of a missing Secret: %v, want NotFound", err)
	}
}
