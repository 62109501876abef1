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
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/metadata"
	watchtools "k8s.io/client-go/tools/watch"
	"k8s.io/client-go/util/workqueue"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// secretWatchRetryDelay is how long the Secret watch waits after failing to
// read the current resourceVersion before trying again.
const secretWatchRetryDelay = 5 * time.Second

// secretWatch is a controller source that turns events on Secrets into
// reconcile requests for the UserServices referencing them. It streams
// metadata-only watch events and keeps no Secret in memory, so its cost does
// not grow with the number of Secrets in the cluster: no informer, no list.
type secretWatch struct {
	client     metadata.Interface
	namespaces []string
	// changed handles an event on a Secret at a resourceVersion, and returns
	// the requests for the UserServices to reconcile.
	changed func(key client.ObjectKey, resourceVersion string, deleted bool) []reconcile.Request
	// all returns the requests for every UserService in a namespace ("" = all).
	all     func(ctx context.Context, namespace string) []reconcile.Request
	started chan struct{}
}

// newSecretWatch returns a source watching Secrets in namespaces (empty = all).
func newSecretWatch(mc metadata.Interface, namespaces []string,
	changed func(client.ObjectKey, string, bool) []reconcile.Request,
	all func(context.Context, string) []reconcile.Request) *secretWatch {
	if len(namespaces) == 0 {
		namespaces = []string{metav1.NamespaceAll}
	}
	return &secretWatch{client: mc, namespaces: namespaces, changed: changed, all: all,
		started: make(chan struct{}, len(namespaces))}
}

// String names the source in logs.
func (w *secretWatch) String() string {
	return fmt.Sprintf("secret metadata watch in %q", w.namespaces)
}

// Start begins one watch per namespace; it does not block.
func (w *secretWatch) Start(ctx context.Context, q workqueue.TypedRateLimitingInterface[reconcile.Request]) error {
	for _, ns := range w.namespaces {
		go w.run(ctx, ns, q)
	}
	return nil
}

// WaitForSync returns once every watch has its starting resourceVersion, so
// that no Secret change after the controller's first reconciles is missed.
func (w *secretWatch) WaitForSync(ctx context.Context) error {
	for range w.namespaces {
		select {
		case <-w.started:
		case <-ctx.Done():
			return fmt.Errorf("waiting for the Secret watch to start: %w", ctx.Err())
		}
	}
	return nil
}

// run watches one namespace until ctx ends. When a watch cannot resume (its
// resourceVersion expired), it starts again from the current one and
// reconciles every UserService in the namespace, to cover the gap.
func (w *secretWatch) run(ctx context.Context, ns string, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	log := ctrl.LoggerFrom(ctx).WithValues("source", "secret-watch", "namespace", ns)
	for first := true; ctx.Err() == nil; {
		rv, err := w.currentResourceVersion(ctx, ns)
		if err != nil {
			log.Error(err, "Failed to read the Secrets' resourceVersion; retrying", "after", secretWatchRetryDelay)
			select {
			case <-ctx.Done():
			case <-time.After(secretWatchRetryDelay):
			}
			continue
		}
		if first {
			w.started <- struct{}{}
			first = false
		} else {
			for _, req := range w.all(ctx, ns) {
				q.Add(req)
			}
		}
		if err := w.stream(ctx, ns, rv, q); err != nil {
			log.Error(err, "The Secret watch ended; restarting it")
		}
	}
}

// currentResourceVersion lists at most one Secret's metadata to learn the
// collection's current resourceVersion, without reading every Secret.
func (w *secretWatch) currentResourceVersion(ctx context.Context, ns string) (string, error) {
	list, err := w.client.Resource(corev1.SchemeGroupVersion.WithResource("secrets")).Namespace(ns).
		List(ctx, metav1.ListOptions{Limit: 1})
	if err != nil {
		return "", fmt.Errorf("listing Secret metadata: %w", err)
	}
	return list.ResourceVersion, nil
}

// stream forwards watch events from rv until the watch ends, and says why it ended.
func (w *secretWatch) stream(ctx context.Context, ns, rv string, q workqueue.TypedRateLimitingInterface[reconcile.Request]) error {
	rw, err := watchtools.NewRetryWatcherWithContext(ctx, rv, secretWatcher{w.client.Resource(
		corev1.SchemeGroupVersion.WithResource("secrets")).Namespace(ns)})
	if err != nil {
		return fmt.Errorf("starting the watch: %w", err)
	}
	defer rw.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-rw.Done():
			return errors.New("the watch stopped")
		case ev, ok := <-rw.ResultChan():
			if !ok {
				return errors.New("the watch closed")
			}
			if ev.Type == watch.Error {
				return fmt.Errorf("the watch failed: %v", ev.Object)
			}
			if m, ok := ev.Object.(*metav1.PartialObjectMetadata); ok {
				key := client.ObjectKey{Namespace: m.Namespace, Name: m.Name}
				for _, req := range w.changed(key, m.ResourceVersion, ev.Type == watch.Deleted) {
					q.Add(req)
				}
			}
		}
	}
}

// secretWatcher adapts a metadata client to the interface RetryWatcher needs.
type secretWatcher struct {
	client metadata.ResourceInterface
}

// WatchWithContext starts a metadata-only watch of Secrets.
func (s secretWatcher) WatchWithContext(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
	return s.client.Watch(ctx, opts)
}
