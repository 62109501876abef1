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
	"slices"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	appsv1alpha1 "github.com/userservice-dev/userservice-operator/api/v1alpha1"
	"github.com/userservice-dev/userservice-operator/internal/resources"
)

// secretSums are the SHA-256 of the values of the Secrets the pods read, and
// the key of the HMAC that hashes them into the pod template's secret-hash
// annotation. The Secret phases fill them in; inputs turns them into the
// Deployment's inputs.
type secretSums struct {
	hashKey, jwt, database [sha256.Size]byte
	// amqp is the sum of the AMQP URL, nil without spec.events.amqpURLSecretRef.
	amqp []byte
}

// inputs returns the Deployment builder's inputs of us from the sums.
func (s secretSums) inputs(us *appsv1alpha1.UserService) resources.Inputs {
	return resources.Inputs{
		JWTSecret:   resources.JWTSecretRef(us),
		SecretsHash: secretsHash(s.hashKey, s.database, s.jwt, s.amqp),
	}
}

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

// reconcileJWTAndHashKeySecrets reads the JWT secret, from the user's Secret
// when spec.auth.jwtSecretRef is set and otherwise from <name>-jwt, which it
// creates once; then it ensures <name>-secret-hash-key exists the same way.
// It sets s.sums.jwt and s.sums.hashKey.
func (r *UserServiceReconciler) reconcileJWTAndHashKeySecrets(ctx context.Context, s *state) (bool, error) {
	var done bool
	var err error
	if s.us.Spec.Auth.JWTSecretRef != nil {
		done, err = r.readReferencedSecret(ctx, s, resources.JWTSecretRef(s.us), "spec.auth.jwtSecretRef",
			ReasonJWTSecretNotFound, &s.sums.jwt)
	} else {
		done, err = r.ensureGenerated(ctx, s, generatedJWT, &s.sums.jwt)
	}
	if done || err != nil {
		return done, err
	}
	return r.ensureGenerated(ctx, s, generatedHashKey, &s.sums.hashKey)
}

// reconcileDatabaseAndEventsSecrets reads the referenced database Secret, and
// the AMQP Secret when spec.events sets one, then builds s.inputs from the
// sums of every Secret the pods read. A missing Secret or key stops the
// reconcile with Ready=False; the Secret metadata watch starts a new
// reconcile when it appears.
func (r *UserServiceReconciler) reconcileDatabaseAndEventsSecrets(ctx context.Context, s *state) (bool, error) {
	done, err := r.readReferencedSecret(ctx, s, resources.DatabaseSecret(s.us), "spec.database.urlSecretRef",
		ReasonDatabaseSecretNotFound, &s.sums.database)
	if done || err != nil {
		return done, err
	}
	if ref, ok := resources.AMQPSecret(s.us); ok {
		var sum [sha256.Size]byte
		done, err := r.readReferencedSecret(ctx, s, ref, "spec.events.amqpURLSecretRef", ReasonEventsSecretNotFound, &sum)
		if done || err != nil {
			return done, err
		}
		s.sums.amqp = sum[:]
	}
	s.inputs = s.sums.inputs(s.us)
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
