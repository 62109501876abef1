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
	"maps"
	"slices"
	"sync"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// secretInfo is what the operator checks of a Secret's metadata.
type secretInfo struct {
	// resourceVersion of the Secret when it was read.
	resourceVersion string
	// controller is the Secret's controller reference, nil when it has none.
	controller *metav1.OwnerReference
	// labelled reports whether the Secret carries the label of --allowed-secret-label.
	labelled bool
}

// keySum is the SHA-256 of the value of one key of a Secret, or ok=false when the Secret has no such key.
type keySum struct {
	sum [sha256.Size]byte
	ok  bool
}

// secretEntry is what referencedSecrets keeps of one Secret: never its data.
type secretEntry struct {
	info secretInfo
	// sums maps each key read so far to the SHA-256 of its value.
	sums map[string]keySum
	// full reports whether sums comes from a read of the whole Secret, not only of its metadata.
	full bool
}

// referencedSecret is one Secret that UserServices use.
type referencedSecret struct {
	users map[client.ObjectKey]struct{}
	// gen counts the watch events that dropped entry: a read that raced with one is not kept.
	gen uint64
	// entry is nil until the Secret is read, and again after an event that may have changed it.
	entry *secretEntry
}

// referencedSecrets remembers, for every Secret a UserService uses (its
// database and JWT Secrets, the Secrets the operator generated for it, and
// with --allowed-secret-label the Secrets of its spec.env), what the operator
// needs of it and nothing more: its controller, whether it carries the
// allowed label, its resourceVersion and the SHA-256 of the value of each key
// a UserService reads. It never holds a Secret's data, and never a Secret no
// UserService uses, so its size is bounded by the references in the
// UserServices' specs. Reconcile declares each UserService's Secrets (use),
// and an entry goes when its last user does. The Secret metadata watch drops
// an entry on any event that may have changed its Secret, and everything
// after a gap. The nil *referencedSecrets remembers nothing and reads every time.
type referencedSecrets struct {
	mu      sync.Mutex
	secrets map[client.ObjectKey]*referencedSecret
	// uses maps each UserService to the Secrets it uses.
	uses map[client.ObjectKey][]client.ObjectKey
}

// newReferencedSecrets returns an empty cache of referenced Secrets.
func newReferencedSecrets() *referencedSecrets {
	return &referencedSecrets{
		secrets: map[client.ObjectKey]*referencedSecret{},
		uses:    map[client.ObjectKey][]client.ObjectKey{},
	}
}

// use records that the UserService us uses exactly the Secrets secrets (none
// once it is gone), and drops what is remembered of Secrets no UserService uses any more.
func (c *referencedSecrets) use(us client.ObjectKey, secrets []client.ObjectKey) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, key := range c.uses[us] {
		if rs := c.secrets[key]; rs != nil && !slices.Contains(secrets, key) {
			delete(rs.users, us)
			if len(rs.users) == 0 {
				delete(c.secrets, key)
			}
		}
	}
	for _, key := range secrets {
		rs := c.secrets[key]
		if rs == nil {
			rs = &referencedSecret{users: map[client.ObjectKey]struct{}{}}
			c.secrets[key] = rs
		}
		rs.users[us] = struct{}{}
	}
	if len(secrets) == 0 {
		delete(c.uses, us)
	} else {
		c.uses[us] = slices.Clone(secrets)
	}
}

// changed handles a watch event on the Secret key at resourceVersion rv: it
// drops what is remembered of it, and returns the UserServices that use it,
// unless the event brings the version already remembered (such as the
// event of a Secret the operator has just created).
func (c *referencedSecrets) changed(key client.ObjectKey, rv string, deleted bool) []client.ObjectKey {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	rs := c.secrets[key]
	if rs == nil || (!deleted && rs.entry != nil && rs.entry.info.resourceVersion == rv) {
		return nil
	}
	rs.entry = nil
	rs.gen++
	return slices.Collect(maps.Keys(rs.users))
}

// forgetAll drops what is remembered of every Secret in namespace ("" = all
// namespaces), after a gap in the watch during which changes may have been missed.
func (c *referencedSecrets) forgetAll(namespace string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for key, rs := range c.secrets {
		if namespace == "" || key.Namespace == namespace {
			rs.entry = nil
			rs.gen++
		}
	}
}

// known reports whether the Secret key is remembered as existing.
func (c *referencedSecrets) known(key client.ObjectKey) bool {
	if c == nil {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	rs := c.secrets[key]
	return rs != nil && rs.entry != nil
}

// snapshot returns the remembered entry of key (nil when there is none) and
// a token that store needs to keep a read started now.
func (c *referencedSecrets) snapshot(key client.ObjectKey) (*secretEntry, readToken) {
	if c == nil {
		return nil, readToken{}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	rs := c.secrets[key]
	if rs == nil {
		return nil, readToken{}
	}
	return rs.entry, readToken{rs: rs, gen: rs.gen}
}

// readToken identifies the state of a referencedSecret when a read started.
type readToken struct {
	rs  *referencedSecret
	gen uint64
}

// store keeps e for key, unless no UserService uses the Secret any more or a
// watch event arrived since the read behind t started.
func (c *referencedSecrets) store(key client.ObjectKey, t readToken, e *secretEntry) {
	if c == nil || t.rs == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.secrets[key] == t.rs && t.rs.gen == t.gen {
		t.rs.entry = e
	}
}

// sum returns the metadata of the Secret key and the SHA-256 of the value of
// its key dataKey, remembered or else read with reader (whose errors, such
// as NotFound, it returns). sel is the allowed-label selector (nil: none).
func (c *referencedSecrets) sum(ctx context.Context, reader client.Reader, sel labels.Selector,
	key client.ObjectKey, dataKey string) (secretInfo, keySum, error) {
	e, t := c.snapshot(key)
	if e != nil && e.full {
		if s, ok := e.sums[dataKey]; ok {
			return e.info, s, nil
		}
	}
	secret := &corev1.Secret{}
	if err := reader.Get(ctx, key, secret); err != nil {
		return secretInfo{}, keySum{}, err
	}
	wanted := []string{dataKey}
	if e != nil && e.full {
		wanted = append(wanted, slices.Collect(maps.Keys(e.sums))...)
	}
	read := newSecretEntry(secret, sel, wanted...)
	c.store(key, t, read)
	return read.info, read.sums[dataKey], nil
}

// meta returns the metadata of the Secret key, remembered or else read with
// a metadata-only request, which does not transfer the Secret's data.
func (c *referencedSecrets) meta(ctx context.Context, reader client.Reader, sel labels.Selector,
	key client.ObjectKey) (secretInfo, error) {
	e, t := c.snapshot(key)
	if e != nil {
		return e.info, nil
	}
	m := &metav1.PartialObjectMetadata{}
	m.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Secret"))
	if err := reader.Get(ctx, key, m); err != nil {
		return secretInfo{}, err
	}
	read := &secretEntry{info: infoOf(&m.ObjectMeta, sel)}
	c.store(key, t, read)
	return read.info, nil
}

// newSecretEntry returns what is kept of secret: its metadata and the sums of the values of keys.
func newSecretEntry(secret *corev1.Secret, sel labels.Selector, keys ...string) *secretEntry {
	e := &secretEntry{info: infoOf(&secret.ObjectMeta, sel), sums: make(map[string]keySum, len(keys)), full: true}
	for _, k := range keys {
		v, ok := secret.Data[k]
		e.sums[k] = keySum{sum: sha256.Sum256(v), ok: ok}
	}
	return e
}

// infoOf returns the checked metadata of a Secret; labelled is false without a selector.
func infoOf(m *metav1.ObjectMeta, sel labels.Selector) secretInfo {
	info := secretInfo{resourceVersion: m.ResourceVersion, labelled: sel != nil && sel.Matches(labels.Set(m.Labels))}
	if ref := metav1.GetControllerOfNoCopy(m); ref != nil {
		info.controller = ref.DeepCopy()
	}
	return info
}
