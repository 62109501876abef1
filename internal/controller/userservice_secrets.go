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
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/apimachinery/pkg/util/validation"
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

// usedSecrets returns the Secrets a UserService uses: its database Secret, its
// JWT Secret (referenced or generated), its secret-hash key Secret, its AMQP
// Secret (spec.events) and, when withEnv, the Secrets its spec.env reads. The
// Secret watch reconciles the UserService when one of them changes.
func usedSecrets(us *appsv1alpha1.UserService, withEnv bool) []client.ObjectKey {
	names := []string{resources.DatabaseSecret(us).Name, resources.JWTSecretRef(us).Name, resources.HashKeySecretName(us)}
	if amqp, ok := resources.AMQPSecret(us); ok {
		names = append(names, amqp.Name)
	}
	if withEnv {
		for _, e := range us.Spec.Env {
			if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
				names = append(names, e.ValueFrom.SecretKeyRef.Name)
			}
		}
	}
	slices.Sort(names)
	keys := make([]client.ObjectKey, 0, len(names))
	for _, n := range slices.Compact(names) {
		keys = append(keys, client.ObjectKey{Namespace: us.Namespace, Name: n})
	}
	return keys
}

// reconcileSecrets ensures the generated Secrets exist: <name>-jwt, created
// once when spec.auth.jwtSecretRef is unset (otherwise the user's Secret is
// read), and <name>-secret-hash-key. It records the sums the secret hash needs.
func (r *UserServiceReconciler) reconcileSecrets(ctx context.Context, s *state) (bool, error) {
	s.jwtSecret = resources.JWTSecretRef(s.us)
	var done bool
	var err error
	if s.us.Spec.Auth.JWTSecretRef != nil {
		done, err = r.readReferencedSecret(ctx, s, s.jwtSecret, "spec.auth.jwtSecretRef", ReasonJWTSecretNotFound, &s.jwtSum)
	} else {
		done, err = r.ensureGenerated(ctx, s, generatedJWT, &s.jwtSum)
	}
	if done || err != nil {
		return done, err
	}
	return r.ensureGenerated(ctx, s, generatedHashKey, &s.hashKey)
}

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

// reconcileDatabase reads the referenced database Secret, and the AMQP
// Secret when spec.events sets one, and computes the secret hash. A missing
// Secret or key stops the reconcile with Ready=False; the Secret metadata
// watch starts a new reconcile when it appears.
func (r *UserServiceReconciler) reconcileDatabase(ctx context.Context, s *state) (bool, error) {
	done, err := r.readReferencedSecret(ctx, s, resources.DatabaseSecret(s.us), "spec.database.urlSecretRef",
		ReasonDatabaseSecretNotFound, &s.dbSum)
	if done || err != nil {
		return done, err
	}
	var amqp []byte
	if ref, ok := resources.AMQPSecret(s.us); ok {
		var sum [sha256.Size]byte
		done, err := r.readReferencedSecret(ctx, s, ref, "spec.events.amqpURLSecretRef", ReasonEventsSecretNotFound, &sum)
		if done || err != nil {
			return done, err
		}
		amqp = sum[:]
	}
	s.obs.SecretsHash = secretsHash(s.hashKey, s.dbSum, s.jwtSum, amqp)
	return false, nil
}

// readReferencedSecret reads one key of a user-owned Secret, referenced by
// field, with the uncached reader (or from referencedSecrets, which the
// Secret watch keeps fresh), checks that the UserService may use it, and sets
// *into to the SHA-256 of the value. A missing Secret or key, or one the
// UserService may not use, is a problem with reason.
func (r *UserServiceReconciler) readReferencedSecret(ctx context.Context, s *state, ref resources.SecretKey,
	field, reason string, into *[sha256.Size]byte) (bool, error) {
	info, sum, err := r.secrets.sum(ctx, r.APIReader, r.AllowedSecrets, client.ObjectKey{Namespace: s.us.Namespace, Name: ref.Name}, ref.Key)
	if apierrors.IsNotFound(err) {
		s.obs.Problem = &problem{Reason: reason, Message: fmt.Sprintf(
			"Secret %q with key %q not found in namespace %q: create it", ref.Name, ref.Key, s.us.Namespace)}
		return true, nil
	}
	if err != nil {
		return true, fmt.Errorf("reading Secret %q: %w", ref.Name, err)
	}
	if !r.secretAllowed(s.us, info) {
		s.obs.Problem = r.secretNotAllowed(ref.Name, field)
		return true, nil
	}
	if !sum.ok {
		s.obs.Problem = &problem{Reason: reason, Message: fmt.Sprintf(
			"Secret %q has no key %q: add the key or change the reference", ref.Name, ref.Key)}
		return true, nil
	}
	*into = sum.sum
	return false, nil
}

// secretsHash returns the pod template's secret-hash annotation: an
// HMAC-SHA256, keyed with the UserService's generated secret-hash key, of the
// SHA-256 of the database URL, of the JWT secret and, when events are
// configured, of the AMQP URL (amqp, nil otherwise, so that the hash of a
// UserService without events does not change), cut to 64 bits. It changes
// when any value changes; without the key, which only readers of the
// UserService's Secrets can see, it tells nothing about the values.
func secretsHash(key, db, jwt [sha256.Size]byte, amqp []byte) string {
	m := hmac.New(sha256.New, key[:])
	parts := [][]byte{[]byte("DATABASE_URL"), db[:], []byte("JWT_SECRET"), jwt[:]}
	if amqp != nil {
		parts = append(parts, []byte("AMQP_URL"), amqp)
	}
	for _, part := range parts {
		_, _ = m.Write(part)
	}
	return hex.EncodeToString(m.Sum(nil))[:16]
}

// describeController names a controller reference for a conflict message.
func describeController(ref *metav1.OwnerReference) string {
	if ref == nil {
		return "no controller"
	}
	return fmt.Sprintf("controller %s %q", ref.Kind, ref.Name)
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

// reconcileEnvSecrets checks, with --allowed-secret-label, that every Secret
// that spec.env reads exists and may be used, before any Job or Deployment
// references it. It reads only the Secrets' metadata.
func (r *UserServiceReconciler) reconcileEnvSecrets(ctx context.Context, s *state) (bool, error) {
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
