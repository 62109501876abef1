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
	"slices"
	"sync"
	"time"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/discovery"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	appsv1alpha1 "github.com/userservice-dev/userservice-operator/api/v1alpha1"
)

// DefaultCRDCheckInterval is how often the operator asks API discovery
// whether the ServiceMonitor CRD was installed or removed.
const DefaultCRDCheckInterval = 30 * time.Second

// serviceMonitorSyncTimeout bounds the first list of ServiceMonitors after the CRD appears.
const serviceMonitorSyncTimeout = time.Minute

// serviceMonitorResource is the plural of ServiceMonitor, as discovery lists it.
const serviceMonitorResource = "servicemonitors"

// serviceMonitorWatch is a controller source for the operator's
// ServiceMonitors, whose CRD may be installed after the operator starts, or
// never: the manager's cache cannot hold a kind the API server does not
// serve. It asks discovery every interval whether the CRD is served; while it
// is, it runs a cache of its own holding only the ServiceMonitors labelled
// as the operator's (in the watched namespaces), serves the reconciler's
// reads from it, and reconciles the UserService owning a ServiceMonitor that
// changes. Every UserService is reconciled when the CRD appears or goes.
type serviceMonitorWatch struct {
	discovery discovery.DiscoveryInterface
	// newCache builds the label-filtered cache of ServiceMonitors.
	newCache func() (cache.Cache, error)
	interval time.Duration
	// all returns a request for every UserService.
	all     func(ctx context.Context) []reconcile.Request
	checked chan struct{}

	mu     sync.RWMutex
	cache  cache.Cache // nil while the CRD is not served
	cancel context.CancelFunc
}

// newServiceMonitorWatch returns a watch checking discovery every interval.
func newServiceMonitorWatch(dc discovery.DiscoveryInterface, newCache func() (cache.Cache, error), interval time.Duration,
	all func(context.Context) []reconcile.Request) *serviceMonitorWatch {
	return &serviceMonitorWatch{discovery: dc, newCache: newCache, interval: interval, all: all, checked: make(chan struct{})}
}

// newServiceMonitors returns the watch of the manager's ServiceMonitors: its
// cache shares the manager's client, scheme and RESTMapper (which discovers
// a group it did not know on first use), and caches as little as the
// manager's does (see ServiceMonitorCacheOptions).
func newServiceMonitors(mgr ctrl.Manager, o SetupOptions, all func(context.Context) []reconcile.Request) (*serviceMonitorWatch, error) {
	dc, err := discovery.NewDiscoveryClientForConfigAndClient(mgr.GetConfig(), mgr.GetHTTPClient())
	if err != nil {
		return nil, fmt.Errorf("creating the discovery client for the ServiceMonitor CRD check: %w", err)
	}
	newCache := func() (cache.Cache, error) {
		opts := ServiceMonitorCacheOptions(o.Namespaces)
		opts.HTTPClient, opts.Scheme, opts.Mapper = mgr.GetHTTPClient(), mgr.GetScheme(), mgr.GetRESTMapper()
		return cache.New(mgr.GetConfig(), opts)
	}
	interval := o.CRDCheckInterval
	if interval <= 0 {
		interval = DefaultCRDCheckInterval
	}
	return newServiceMonitorWatch(dc, newCache, interval, all), nil
}

// String names the source in logs.
func (w *serviceMonitorWatch) String() string {
	return "ServiceMonitor watch, started when the monitoring.coreos.com/v1 CRD is served"
}

// reader returns the cache of ServiceMonitors, or nil while the CRD is not
// served (or on a reconciler without the watch).
func (w *serviceMonitorWatch) reader() client.Reader {
	if w == nil {
		return nil
	}
	w.mu.RLock()
	defer w.mu.RUnlock()
	if w.cache == nil {
		return nil
	}
	return w.cache
}

// Start runs the discovery checks until ctx ends; it does not block.
func (w *serviceMonitorWatch) Start(ctx context.Context, q workqueue.TypedRateLimitingInterface[reconcile.Request]) error {
	go w.run(ctx, q)
	return nil
}

// WaitForSync returns after the first check, so that the first reconciles
// already read ServiceMonitors when the CRD is installed.
func (w *serviceMonitorWatch) WaitForSync(ctx context.Context) error {
	select {
	case <-w.checked:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("waiting for the first ServiceMonitor CRD check: %w", ctx.Err())
	}
}

// run checks discovery every interval and starts or stops the cache when
// the CRD appears or goes, until ctx ends.
func (w *serviceMonitorWatch) run(ctx context.Context, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	log := ctrl.LoggerFrom(ctx).WithValues("source", "servicemonitor-watch")
	defer w.stop()
	for first := true; ; first = false {
		if changed, err := w.check(ctx, q); err != nil {
			log.Error(err, "Failed to check for the ServiceMonitor CRD; checking again", "after", w.interval)
		} else if changed {
			log.Info("The ServiceMonitor CRD changed; reconciling every UserService", "served", w.reader() != nil)
			if !first {
				for _, req := range w.all(ctx) {
					q.Add(req)
				}
			}
		}
		if first {
			close(w.checked)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(w.interval):
		}
	}
}

// check starts the cache when the CRD is served and the cache is not
// running, stops it in the opposite case, and reports whether it did either.
func (w *serviceMonitorWatch) check(ctx context.Context, q workqueue.TypedRateLimitingInterface[reconcile.Request]) (bool, error) {
	served, err := w.served()
	if err != nil {
		return false, err
	}
	running := w.reader() != nil
	switch {
	case served && !running:
		return true, w.start(ctx, q)
	case !served && running:
		w.stop()
		return true, nil
	}
	return false, nil
}

// served asks discovery whether monitoring.coreos.com/v1 serves ServiceMonitors.
func (w *serviceMonitorWatch) served() (bool, error) {
	list, err := w.discovery.ServerResourcesForGroupVersion(monitoringv1.SchemeGroupVersion.String())
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("discovering %s: %w", monitoringv1.SchemeGroupVersion, err)
	}
	return slices.ContainsFunc(list.APIResources, func(r metav1.APIResource) bool { return r.Name == serviceMonitorResource }), nil
}

// start builds and starts the ServiceMonitor cache, with a handler that
// reconciles the owner of each ServiceMonitor that changes, and serves
// reads from it once it has synced.
func (w *serviceMonitorWatch) start(ctx context.Context, q workqueue.TypedRateLimitingInterface[reconcile.Request]) error {
	c, err := w.newCache()
	if err != nil {
		return fmt.Errorf("creating the ServiceMonitor cache: %w", err)
	}
	inf, err := c.GetInformer(ctx, &monitoringv1.ServiceMonitor{}, cache.BlockUntilSynced(false))
	if err != nil {
		return fmt.Errorf("creating the ServiceMonitor informer: %w", err)
	}
	enqueue := func(obj any) {
		if req, ok := ownerRequest(obj); ok {
			q.Add(req)
		}
	}
	if _, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc: enqueue, UpdateFunc: func(_, obj any) { enqueue(obj) }, DeleteFunc: enqueue,
	}); err != nil {
		return fmt.Errorf("adding the ServiceMonitor event handler: %w", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	go func() {
		if err := c.Start(cctx); err != nil {
			ctrl.LoggerFrom(ctx).Error(err, "The ServiceMonitor cache stopped")
		}
	}()
	sctx, scancel := context.WithTimeout(cctx, serviceMonitorSyncTimeout)
	defer scancel()
	if !c.WaitForCacheSync(sctx) {
		cancel()
		return fmt.Errorf("the ServiceMonitor cache did not sync within %s: check that the operator may list and "+
			"watch servicemonitors.monitoring.coreos.com (its ClusterRole, or its Roles in --watch-namespaces)", serviceMonitorSyncTimeout)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.cache, w.cancel = c, cancel
	return nil
}

// stop stops the ServiceMonitor cache, if it runs.
func (w *serviceMonitorWatch) stop() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.cancel != nil {
		w.cancel()
	}
	w.cache, w.cancel = nil, nil
}

// ownerRequest returns the request for the UserService controlling obj, an
// informer's object or its tombstone.
func ownerRequest(obj any) (reconcile.Request, bool) {
	if t, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	o, ok := obj.(client.Object)
	if !ok {
		return reconcile.Request{}, false
	}
	ref := metav1.GetControllerOf(o)
	if ref == nil || ref.Kind != "UserService" || ref.APIVersion != appsv1alpha1.GroupVersion.String() {
		return reconcile.Request{}, false
	}
	return reconcile.Request{NamespacedName: client.ObjectKey{Namespace: o.GetNamespace(), Name: ref.Name}}, true
}
