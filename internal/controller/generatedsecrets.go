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
	"fmt"
	"io"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	appsv1alpha1 "github.com/userservice-dev/userservice-operator/api/v1alpha1"
	"github.com/userservice-dev/userservice-operator/internal/resources"
)

// generated describes a Secret that the operator creates once per UserService
// from random bytes, and never regenerates.
type generated struct {
	// what names the Secret in errors and logs.
	what string
	// name returns the Secret's name, and key its data key.
	name func(*appsv1alpha1.UserService) string
	key  string
	// build returns the Secret from random bytes, of which it needs size.
	build func(*appsv1alpha1.UserService, []byte) *corev1.Secret
	size  int
	// event records a SecretGenerated event when the Secret is created.
	event bool
	// reason is the problem's reason when the Secret lacks its key.
	reason string
	// conflictAdvice says what to do when a Secret of that name is not the UserService's.
	conflictAdvice string
}

// The Secrets the operator generates: the JWT secret (unless
// spec.auth.jwtSecretRef is set) and the key of the secret-hash annotation.
var (
	generatedJWT = generated{what: "JWT Secret", name: resources.JWTSecretName, key: resources.JWTSecretKey,
		build: resources.JWTSecret, size: resources.JWTSecretRandomBytes, event: true, reason: ReasonJWTSecretNotFound,
		conflictAdvice: "to use it, set spec.auth.jwtSecretRef to it; otherwise delete it so that the operator generates one"}
	generatedHashKey = generated{what: "secret-hash key Secret", name: resources.HashKeySecretName,
		key: resources.HashKeySecretKey, build: resources.HashKeySecret, size: resources.HashKeyRandomBytes,
		reason: ReasonSecretHashKeyNotFound, conflictAdvice: "delete it so that the operator generates one"}
)

// ensureGenerated makes sure the generated Secret g exists, creating it when
// it does not, and sets *into to the SHA-256 of its value. A UserService
// without a status yet has never been reconciled, so its Secrets are created
// first and read only on AlreadyExists; otherwise they are read first (from
// memory when unchanged). A Secret of that name that this UserService does
// not control is a conflictError, neither used nor overwritten.
func (r *UserServiceReconciler) ensureGenerated(ctx context.Context, s *state, g generated, into *[sha256.Size]byte) (bool, error) {
	key := client.ObjectKey{Namespace: s.us.Namespace, Name: g.name(s.us)}
	if neverReconciled(s.us) && !r.secrets.known(key) {
		sum, err := r.createGenerated(ctx, s.us, g)
		if err == nil {
			*into = sum
			return false, nil
		}
		if !apierrors.IsAlreadyExists(err) {
			return true, fmt.Errorf("creating %s %q: %w", g.what, key.Name, err)
		}
	}
	info, sum, err := r.secrets.sum(ctx, r.APIReader, r.AllowedSecrets, key, g.key)
	if apierrors.IsNotFound(err) {
		created, err := r.createGenerated(ctx, s.us, g)
		if err != nil {
			return true, fmt.Errorf("creating %s %q: %w", g.what, key.Name, err)
		}
		*into = created
		return false, nil
	}
	if err != nil {
		return true, fmt.Errorf("reading %s %q: %w", g.what, key.Name, err)
	}
	if info.controller == nil || info.controller.UID != s.us.UID {
		return true, &conflictError{kind: "Secret", name: key.Name, controller: describeController(info.controller),
			todo: g.conflictAdvice}
	}
	if !sum.ok {
		s.obs.Problem = &problem{Reason: g.reason, Message: fmt.Sprintf(
			"Secret %q has no key %q: delete the Secret so that the operator generates a new one", key.Name, g.key)}
		return true, nil
	}
	*into = sum.sum
	return false, nil
}

// neverReconciled reports whether the UserService's status was never written.
func neverReconciled(us *appsv1alpha1.UserService) bool {
	return us.Status.ObservedGeneration == 0 && len(us.Status.Conditions) == 0
}

// createGenerated creates the generated Secret g with fresh random bytes,
// remembers it, and returns the SHA-256 of its value.
func (r *UserServiceReconciler) createGenerated(ctx context.Context, us *appsv1alpha1.UserService, g generated) ([sha256.Size]byte, error) {
	random := make([]byte, g.size)
	if _, err := io.ReadFull(r.Random, random); err != nil {
		return [sha256.Size]byte{}, fmt.Errorf("reading random bytes: %w", err)
	}
	secret := g.build(us, random)
	key := client.ObjectKeyFromObject(secret)
	_, token := r.secrets.snapshot(key)
	if err := r.Client.Create(ctx, secret, client.FieldOwner(resources.FieldOwner)); err != nil {
		return [sha256.Size]byte{}, err
	}
	r.secrets.store(key, token, newSecretEntry(secret, r.AllowedSecrets, g.key))
	if g.event {
		r.Recorder.Eventf(us, secret, corev1.EventTypeNormal, EventSecretGenerated, "CreateSecret",
			"Generated %s %q", g.what, secret.Name)
	}
	ctrl.LoggerFrom(ctx).Info("Generated a Secret", "secret", secret.Name)
	return sha256.Sum256(secret.Data[g.key]), nil
}
