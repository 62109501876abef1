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

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/userservice-dev/userservice-operator/internal/resources"
)

// reconcileDisruptionBudgetAndAutoscaler applies or deletes the
// PodDisruptionBudget and the HorizontalPodAutoscaler as the spec asks.
func (r *UserServiceReconciler) reconcileDisruptionBudgetAndAutoscaler(ctx context.Context, s *state) (bool, error) {
	var pdb client.Object = &policyv1.PodDisruptionBudget{}
	if p := resources.PodDisruptionBudget(s.us); p != nil {
		pdb = p
	}
	var hpa client.Object = &autoscalingv2.HorizontalPodAutoscaler{}
	if h := resources.HorizontalPodAutoscaler(s.us); h != nil {
		hpa = h
	}
	for _, obj := range []client.Object{pdb, hpa} {
		if err := r.applyOrDelete(ctx, s.us, obj); err != nil {
			return true, err
		}
	}
	return false, nil
}

// reconcileNetworkPolicy applies or deletes the NetworkPolicy as spec.networkPolicy asks.
func (r *UserServiceReconciler) reconcileNetworkPolicy(ctx context.Context, s *state) (bool, error) {
	var np client.Object = &networkingv1.NetworkPolicy{}
	if p := resources.NetworkPolicy(s.us); p != nil {
		np = p
	}
	if err := r.applyOrDelete(ctx, s.us, np); err != nil {
		return true, err
	}
	return false, nil
}

// reconcileServiceMonitor applies or deletes the ServiceMonitor as
// spec.monitoring.serviceMonitor asks, reading ServiceMonitors from their
// own cache. While their CRD is not installed it only records that, and
// the reconcile goes on: the ServiceMonitor is created once the CRD appears.
func (r *UserServiceReconciler) reconcileServiceMonitor(ctx context.Context, s *state) (bool, error) {
	desired := resources.ServiceMonitor(s.us)
	cached := r.monitors.reader()
	switch {
	case cached == nil && desired != nil:
		s.obs.ServiceMonitor = ServiceMonitorCRDMissing
		return false, nil
	case cached == nil:
		s.obs.ServiceMonitor = ServiceMonitorDisabled
		return false, nil
	}
	var sm client.Object = &monitoringv1.ServiceMonitor{}
	s.obs.ServiceMonitor = ServiceMonitorDisabled
	if desired != nil {
		sm, s.obs.ServiceMonitor = desired, ServiceMonitorApplied
	}
	if err := r.applyOrDeleteFrom(ctx, cached, s.us, sm); err != nil {
		s.obs.ServiceMonitor = ""
		return true, err
	}
	return false, nil
}
