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
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"reflect"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"

	appsv1alpha1 "github.com/userservice-dev/userservice-operator/api/v1alpha1"
	"github.com/userservice-dev/userservice-operator/internal/resources"
)

// apply server-side applies desired with the operator's field owner, taking
// ownership of conflicting fields so that hand edits are put back, and leaves
// the live object in live. The apply is skipped, so that an idle reconcile
// sends no write at all, when the cached child carries the hash of the same
// desired object and still holds every field the operator sets (no drift).
func (r *UserServiceReconciler) apply(ctx context.Context, desired, live client.Object) error {
	return r.applyFrom(ctx, r.Client, desired, live)
}

// applyFrom is apply for a kind that cached reads from, rather than from the manager's cache.
func (r *UserServiceReconciler) applyFrom(ctx context.Context, cached client.Reader, desired, live client.Object) error {
	u, err := r.applyConfiguration(desired)
	if err != nil {
		return err
	}
	hash, err := objectHash(u.Object)
	if err != nil {
		return err
	}
	u.SetAnnotations(withAnnotation(u.GetAnnotations(), resources.AnnotationSpecHash, hash))
	exists, err := r.getChild(ctx, cached, desired, live)
	if err != nil {
		return err
	}
	if exists && live.GetAnnotations()[resources.AnnotationSpecHash] == hash && holds(live, u.Object) {
		return nil
	}
	if err := r.Client.Apply(ctx, client.ApplyConfigurationFromUnstructured(u),
		client.FieldOwner(resources.FieldOwner), client.ForceOwnership); err != nil {
		return err
	}
	return runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, live)
}

// getChild reads the live child named as desired into live and reports whether
// it exists. The cache holds only objects labelled as the operator's, so a
// cache miss is checked with an uncached read: an object of that name that
// this UserService does not control is a conflictError, never taken over.
func (r *UserServiceReconciler) getChild(ctx context.Context, cached client.Reader, desired, live client.Object) (bool, error) {
	key := client.ObjectKeyFromObject(desired)
	err := cached.Get(ctx, key, live)
	if apierrors.IsNotFound(err) {
		err = r.APIReader.Get(ctx, key, live)
	}
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("reading %s %q: %w", r.kindOf(desired), key.Name, err)
	}
	if owner := metav1.GetControllerOf(desired); owner == nil || !controlledBy(live, owner.UID) {
		return true, newConflictError(r.kindOf(desired), live,
			"delete or rename that object, or give this UserService another name")
	}
	return true, nil
}

// kindOf returns the Kind of obj, for errors and logs: from its TypeMeta,
// which the builders of internal/resources set, or else from the client's
// scheme, for the empty objects that applyOrDelete deletes by.
func (r *UserServiceReconciler) kindOf(obj client.Object) string {
	if k := obj.GetObjectKind().GroupVersionKind().Kind; k != "" {
		return k
	}
	if gvk, err := apiutil.GVKForObject(obj, r.Client.Scheme()); err == nil {
		return gvk.Kind
	}
	return fmt.Sprintf("%T", obj)
}

// objectHash returns the hex SHA-256 of obj's JSON encoding, which is
// deterministic: encoding/json sorts map keys.
func objectHash(obj map[string]any) (string, error) {
	b, err := json.Marshal(obj)
	if err != nil {
		return "", fmt.Errorf("encoding the desired object for its hash: %w", err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16]), nil
}

// withAnnotation returns a copy of annotations with key set to value.
func withAnnotation(annotations map[string]string, key, value string) map[string]string {
	out := make(map[string]string, len(annotations)+1)
	maps.Copy(out, annotations)
	out[key] = value
	return out
}

// holds reports whether the live object has every field of the desired apply
// configuration with the same value (apiVersion and kind aside, which typed
// cached objects leave empty). Fields the server or others added are ignored.
func holds(live client.Object, desired map[string]any) bool {
	obj, err := runtime.DefaultUnstructuredConverter.ToUnstructured(live)
	if err != nil {
		return false
	}
	want := maps.Clone(desired)
	delete(want, "apiVersion")
	delete(want, "kind")
	return contains(obj, want)
}

// contains reports whether got holds want: maps hold every key of want with a
// value that holds want's, lists have the same length and hold want's items
// in order, and other values are equal.
func contains(got, want any) bool {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return false
		}
		for k, v := range w {
			if gv, ok := g[k]; !ok || !contains(gv, v) {
				return false
			}
		}
		return true
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return false
		}
		for i := range w {
			if !contains(g[i], w[i]) {
				return false
			}
		}
		return true
	default:
		return reflect.DeepEqual(got, want)
	}
}

// applyConfiguration converts a typed desired object into the unstructured
// apply configuration sent to the server: without status, and without the
// null fields (such as creationTimestamp) that typed objects serialize.
func (r *UserServiceReconciler) applyConfiguration(desired client.Object) (*unstructured.Unstructured, error) {
	obj, err := runtime.DefaultUnstructuredConverter.ToUnstructured(desired)
	if err != nil {
		return nil, fmt.Errorf("converting %s %q to unstructured: %w", r.kindOf(desired), desired.GetName(), err)
	}
	delete(obj, "status")
	dropNulls(obj)
	return &unstructured.Unstructured{Object: obj}, nil
}

// dropNulls removes null values from a JSON-like map, recursively.
func dropNulls(m map[string]any) {
	for k, v := range m {
		switch t := v.(type) {
		case nil:
			delete(m, k)
		case map[string]any:
			dropNulls(t)
		case []any:
			for _, e := range t {
				if em, ok := e.(map[string]any); ok {
					dropNulls(em)
				}
			}
		}
	}
}

// applyOrDelete applies obj when it is a desired object (it has a name), and
// otherwise deletes the UserService's existing object of that kind, if any,
// so that optional children disappear when the spec stops asking for them.
func (r *UserServiceReconciler) applyOrDelete(ctx context.Context, us *appsv1alpha1.UserService, obj client.Object) error {
	return r.applyOrDeleteFrom(ctx, r.Client, us, obj)
}

// applyOrDeleteFrom is applyOrDelete for a kind that cached reads from,
// rather than from the manager's cache.
func (r *UserServiceReconciler) applyOrDeleteFrom(ctx context.Context, cached client.Reader, us *appsv1alpha1.UserService,
	obj client.Object) error {
	kind := r.kindOf(obj)
	if obj.GetName() != "" {
		live := reflect.New(reflect.TypeOf(obj).Elem()).Interface().(client.Object)
		if err := r.applyFrom(ctx, cached, obj, live); err != nil {
			return fmt.Errorf("applying %s %q: %w", kind, obj.GetName(), err)
		}
		return nil
	}
	err := cached.Get(ctx, client.ObjectKey{Namespace: us.Namespace, Name: us.Name}, obj)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading %s %q: %w", kind, us.Name, err)
	}
	if !controlledBy(obj, us.UID) {
		return nil // Not ours: leave it alone.
	}
	uid := obj.GetUID()
	if err := r.Client.Delete(ctx, obj, client.Preconditions{UID: &uid}); client.IgnoreNotFound(err) != nil {
		return fmt.Errorf("deleting %s %q: %w", kind, us.Name, err)
	}
	return nil
}

// controlledBy reports whether obj has a controller reference to the UID.
func controlledBy(obj client.Object, uid types.UID) bool {
	ref := metav1.GetControllerOf(obj)
	return ref != nil && ref.UID == uid
}

// conflictError says that a child's name is taken by an object that the
// UserService does not control, so the operator leaves it alone.
type conflictError struct {
	kind, name, controller, todo string
}

// newConflictError describes the conflicting object obj of kind and what the user can do.
func newConflictError(kind string, obj client.Object, todo string) *conflictError {
	return &conflictError{kind: kind, name: obj.GetName(), controller: describeController(metav1.GetControllerOf(obj)), todo: todo}
}

// describeController names a controller reference for a conflict message.
func describeController(ref *metav1.OwnerReference) string {
	if ref == nil {
		return "no controller"
	}
	return fmt.Sprintf("controller %s %q", ref.Kind, ref.Name)
}

// Error returns the message of the ResourceConflict condition.
func (e *conflictError) Error() string {
	return fmt.Sprintf("%s %q already exists and is not controlled by this UserService (%s): "+
		"the operator does not take over objects it did not create; %s", e.kind, e.name, e.controller, e.todo)
}
