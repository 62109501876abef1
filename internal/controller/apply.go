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
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	appsv1alpha1 "github.com/userservice-dev/userservice-operator/api/v1alpha1"
	"github.com/userservice-dev/userservice-operator/internal/resources"
)

// apply server-side applies desired with the operator's field owner, taking
// ownership of conflicting fields so that hand edits are put back, and decodes
// the server's answer into live. Applying an unchanged object is a no-op on
// the server: it writes nothing and keeps the resourceVersion.
func (r *UserServiceReconciler) apply(ctx context.Context, desired, live client.Object) error {
	u, err := applyConfiguration(desired)
	if err != nil {
		return err
	}
	if err := r.Client.Apply(ctx, client.ApplyConfigurationFromUnstructured(u),
		client.FieldOwner(resources.FieldOwner), client.ForceOwnership); err != nil {
		return err
	}
	return runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, live)
}

// applyConfiguration converts a typed desired object into the unstructured
// apply configuration sent to the server: without status, and without the
// null fields (such as creationTimestamp) that typed objects serialize.
func applyConfiguration(desired client.Object) (*unstructured.Unstructured, error) {
	obj, err := runtime.DefaultUnstructuredConverter.ToUnstructured(desired)
	if err != nil {
		return nil, fmt.Errorf("converting %T %q to unstructured: %w", desired, desired.GetName(), err)
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
	kind := fmt.Sprintf("%T", obj)
	if obj.GetName() != "" {
		if err := r.apply(ctx, obj, obj.DeepCopyObject().(client.Object)); err != nil {
			return fmt.Errorf("applying %s %q: %w", kind, obj.GetName(), err)
		}
		return nil
	}
	err := r.Client.Get(ctx, client.ObjectKey{Namespace: us.Namespace, Name: us.Name}, obj)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading %s %q: %w", kind, us.Name, err)
	}
	if !metaOwnedBy(obj, us) {
		return nil // Not ours: leave it alone.
	}
	uid := obj.GetUID()
	if err := r.Client.Delete(ctx, obj, client.Preconditions{UID: &uid}); client.IgnoreNotFound(err) != nil {
		return fmt.Errorf("deleting %s %q: %w", kind, us.Name, err)
	}
	return nil
}
