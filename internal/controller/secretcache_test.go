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
	"crypto/sha256"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
)

// countingReader returns a client holding the Secrets ns/db and other/db (the
// first labelled allowed=yes), which counts its Gets of whole Secrets in
// *gets and of metadata in *metaGets, and runs during (if set) inside each Get.
func countingReader(t *testing.T, gets, metaGets *int, during *func()) client.Client {
	t.Helper()
	secret := func(ns string, l map[string]string) *corev1.Secret {
		return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "db", Labels: l},
			Data: map[string][]byte{"url": []byte(ns), "other": []byte("x")}}
	}
	cl := fake.NewClientBuilder().WithScheme(testScheme(t)).
		WithObjects(secret("ns", map[string]string{"allowed": "yes"}), secret("other", nil)).Build()
	return interceptor.NewClient(cl, interceptor.Funcs{
		Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
			if _, ok := obj.(*metav1.PartialObjectMetadata); ok {
				*metaGets++
			} else {
				*gets++
			}
			if *during != nil {
				(*during)()
			}
			return c.Get(ctx, key, obj, opts...)
		},
	})
}

func TestReferencedSecretsKeepsSumsUntilChanged(t *testing.T) {
	gets, metaGets, during := 0, 0, func() {}
	reader := countingReader(t, &gets, &metaGets, &during)
	c := newReferencedSecrets()
	key, other := client.ObjectKey{Namespace: "ns", Name: "db"}, client.ObjectKey{Namespace: "other", Name: "db"}
	us := client.ObjectKey{Namespace: "ns", Name: "users"}
	c.use(us, []client.ObjectKey{key})
	c.use(client.ObjectKey{Namespace: "other", Name: "users"}, []client.ObjectKey{other})
	sel := labels.SelectorFromSet(labels.Set{"allowed": "yes"})
	read := func(k client.ObjectKey) (secretInfo, keySum) {
		t.Helper()
		info, sum, err := c.sum(t.Context(), reader, sel, k, "url")
		if err != nil {
			t.Fatalf("sum %v: %v", k, err)
		}
		return info, sum
	}
	info, sum := read(key)
	if !sum.ok || sum.sum != sha256.Sum256([]byte("ns")) || !info.labelled {
		t.Fatalf("sum = %+v, labelled %v: want the SHA-256 of the value, labelled", sum, info.labelled)
	}
	if read(key); gets != 1 {
		t.Fatalf("two reads read the API %d times, want 1", gets)
	}
	if entry := c.secrets[key].entry; len(entry.sums) != 1 {
		t.Errorf("the entry holds %d sums, want only that of the key read", len(entry.sums))
	}
	if _, s, _ := c.sum(t.Context(), reader, sel, key, "missing"); s.ok || gets != 2 {
		t.Errorf("a missing key: ok = %v after %d API reads, want false after 2", s.ok, gets)
	}
	if read(key); gets != 2 {
		t.Errorf("reading the first key again read the API: %d reads, want 2", gets)
	}

	if users := c.changed(key, info.resourceVersion, false); users != nil {
		t.Errorf("an event at the remembered resourceVersion reconciles %v, want nothing", users)
	}
	if users := c.changed(key, "changed", false); len(users) != 1 || users[0] != us {
		t.Errorf("an event with a new resourceVersion reconciles %v, want %v", users, us)
	}
	if read(key); gets != 3 {
		t.Fatalf("a read after a change read the API %d times in all, want 3", gets)
	}
	if users := c.changed(key, c.secrets[key].entry.info.resourceVersion, true); len(users) != 1 {
		t.Errorf("a deletion reconciles %v, want the user", users)
	}
	read(key)
	read(other)
	c.forgetAll("other")
	if read(key); gets != 5 {
		t.Errorf("forgetAll(other) dropped a Secret of another namespace")
	}
	if _, s := read(other); gets != 6 || s.sum != sha256.Sum256([]byte("other")) {
		t.Errorf("forgetAll(other) kept a Secret of its namespace")
	}

	during = func() { c.changed(key, "racing", false) }
	c.changed(key, "again", false)
	read(key)
	during = nil
	if read(key); gets != 8 {
		t.Errorf("a read that raced with a change was remembered: %d API reads, want 8", gets)
	}
	if _, _, err := c.sum(t.Context(), reader, sel, client.ObjectKey{Namespace: "ns", Name: "missing"}, "url"); !apierrors.IsNotFound(err) {
		t.Errorf("sum of a missing Secret: %v, want NotFound", err)
	}
}

func TestReferencedSecretsEvictsUnusedSecrets(t *testing.T) {
	gets, metaGets, during := 0, 0, func() {}
	reader := countingReader(t, &gets, &metaGets, &during)
	c := newReferencedSecrets()
	key := client.ObjectKey{Namespace: "ns", Name: "db"}
	a, b := client.ObjectKey{Namespace: "ns", Name: "a"}, client.ObjectKey{Namespace: "ns", Name: "b"}

	if _, _, err := c.sum(t.Context(), reader, nil, key, "url"); err != nil || len(c.secrets) != 0 {
		t.Fatalf("a Secret no UserService uses was remembered (err %v): %d entries", err, len(c.secrets))
	}
	c.use(a, []client.ObjectKey{key})
	c.use(b, []client.ObjectKey{key})
	info, err := c.meta(t.Context(), reader, nil, key)
	if err != nil || metaGets != 1 || info.labelled {
		t.Fatalf("meta: %v after %d metadata reads, labelled %v; want one metadata read, not labelled without a selector",
			err, metaGets, info.labelled)
	}
	if _, _, err := c.sum(t.Context(), reader, nil, key, "url"); err != nil || gets != 2 {
		t.Fatalf("sum after meta: %v after %d reads of whole Secrets, want 2: metadata holds no sums", err, gets)
	}
	if _, err := c.meta(t.Context(), reader, nil, key); err != nil || metaGets != 1 {
		t.Errorf("meta after sum read again: %d metadata reads, want 1", metaGets)
	}
	c.use(a, nil)
	if c.secrets[key] == nil || c.secrets[key].entry == nil {
		t.Fatal("the Secret was dropped while b still uses it")
	}
	c.use(b, []client.ObjectKey{{Namespace: "ns", Name: "elsewhere"}})
	if _, ok := c.secrets[key]; ok {
		t.Error("the Secret is still remembered once no UserService uses it")
	}
	c.use(b, nil)
	if len(c.secrets) != 0 || len(c.uses) != 0 {
		t.Errorf("%d Secrets and %d UserServices left once every UserService is gone, want none", len(c.secrets), len(c.uses))
	}
}
