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
	"maps"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// referencedSecrets remembers the data of the Secrets that UserServices
// reference, read with the uncached reader, so that a reconcile does not read
// the same unchanged Secret from the API server again. It holds only Secrets
// that were read because a UserService references them, never a list of the
// cluster's Secrets. The Secret metadata watch forgets an entry on any event
// for that Secret, and everything when the watch had a gap.
type referencedSecrets struct {
	mu sync.Mutex
	// data maps a Secret's key to a copy of its data.
	data map[client.ObjectKey]map[string][]byte
	// forgets counts the calls of forget and forgetAll: a read that raced
	// with one of them is not remembered, since it may predate the change.
	forgets uint64
}

// newReferencedSecrets returns an empty cache of referenced Secrets.
func newReferencedSecrets() *referencedSecrets {
	return &referencedSecrets{data: map[client.ObjectKey]map[string][]byte{}}
}

// get returns the Secret's data, from memory when it was read since its last
// watch event, and otherwise from reader (whose errors, such as NotFound, it returns).
func (c *referencedSecrets) get(ctx context.Context, reader client.Reader, key client.ObjectKey) (map[string][]byte, error) {
	c.mu.Lock()
	data, ok := c.data[key]
	forgets := c.forgets
	c.mu.Unlock()
	if ok {
		return data, nil
	}
	secret := &corev1.Secret{}
	if err := reader.Get(ctx, key, secret); err != nil {
		return nil, err
	}
	data = maps.Clone(secret.Data)
	c.mu.Lock()
	if c.forgets == forgets {
		c.data[key] = data
	}
	c.mu.Unlock()
	return data, nil
}

// forget drops the Secret key, which changed or was deleted.
func (c *referencedSecrets) forget(key client.ObjectKey) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.data, key)
	c.forgets++
}

// forgetAll drops every Secret in namespace ("" = all namespaces), after a
// gap in the watch during which changes may have been missed.
func (c *referencedSecrets) forgetAll(namespace string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for key := range c.data {
		if namespace == "" || key.Namespace == namespace {
			delete(c.data, key)
		}
	}
	c.forgets++
}
