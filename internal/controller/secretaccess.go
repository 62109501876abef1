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
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/controller-runtime/pkg/client"

	appsv1alpha1 "github.com/userservice-dev/userservice-operator/api/v1alpha1"
)

// checkEnvSecretsAllowed checks, with --allowed-secret-label, that every
// Secret that spec.env reads exists and may be used, before any Job or
// Deployment references it. It reads only the Secrets' metadata.
func (r *UserServiceReconciler) checkEnvSecretsAllowed(ctx context.Context, s *state) (bool, error) {
	if r.AllowedSecrets == nil {
		return false, nil
	}
	for i, e := range s.us.Spec.Env {
		if e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
			continue
		}
		name := e.ValueFrom.SecretKeyRef.Name
		field := fmt.Sprintf("spec.env[%d] (%s)", i, e.Name)
		info, err := r.secrets.meta(ctx, r.APIReader, r.AllowedSecrets, client.ObjectKey{Namespace: s.us.Namespace, Name: name})
		if apierrors.IsNotFound(err) {
			// Even an optional reference: a Secret created later without the label would reach new pods.
			s.obs.Problem = &problem{Reason: ReasonSecretNotAllowed, Message: fmt.Sprintf(
				"Secret %q, referenced by %s, does not exist: this operator (--allowed-secret-label) only lets a "+
					"UserService use existing Secrets with the label %s", name, field, r.AllowedSecrets)}
			return true, nil
		}
		if err != nil {
			return true, fmt.Errorf("reading the metadata of Secret %q: %w", name, err)
		}
		if !r.secretAllowed(s.us, info) {
			s.obs.Problem = r.secretNotAllowed(name, field)
			return true, nil
		}
	}
	return false, nil
}

// secretAllowed reports whether the UserService us may use a Secret: always
// without --allowed-secret-label, and otherwise when the Secret carries the
// label or is controlled by us (the Secrets the operator generated for it).
func (r *UserServiceReconciler) secretAllowed(us *appsv1alpha1.UserService, info secretInfo) bool {
	return r.AllowedSecrets == nil || info.labelled || (info.controller != nil && info.controller.UID == us.UID)
}

// secretNotAllowed returns the SecretNotAllowed problem for the Secret name referenced by field.
func (r *UserServiceReconciler) secretNotAllowed(name, field string) *problem {
	return &problem{Reason: ReasonSecretNotAllowed, Message: fmt.Sprintf(
		"Secret %q, referenced by %s, does not carry the label %s: this operator (--allowed-secret-label) only lets a "+
			"UserService use Secrets with that label. Label the Secret if this UserService may read it, or reference another one",
		name, field, r.AllowedSecrets)}
}

// ParseSecretLabel parses --allowed-secret-label: "key=value", or "key" for
// any value of that label. The empty string means no restriction (nil).
func ParseSecretLabel(s string) (labels.Selector, error) {
	if s == "" {
		return nil, nil
	}
	key, value, hasValue := strings.Cut(s, "=")
	if errs := validation.IsQualifiedName(key); len(errs) > 0 {
		return nil, fmt.Errorf("--allowed-secret-label %q: the label key %q is invalid: %s", s, key, strings.Join(errs, "; "))
	}
	op, values := selection.Exists, []string(nil)
	if hasValue {
		if errs := validation.IsValidLabelValue(value); len(errs) > 0 {
			return nil, fmt.Errorf("--allowed-secret-label %q: the label value %q is invalid: %s", s, value, strings.Join(errs, "; "))
		}
		op, values = selection.Equals, []string{value}
	}
	req, err := labels.NewRequirement(key, op, values)
	if err != nil {
		return nil, fmt.Errorf("--allowed-secret-label %q: %w", s, err)
	}
	return labels.NewSelector().Add(*req), nil
}
