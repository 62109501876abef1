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
package resources

import (
	"maps"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	appsv1alpha1 "github.com/userservice-dev/userservice-operator/api/v1alpha1"
)

// MetricsPath is the path of the service's Prometheus metrics, on its http port.
const MetricsPath = "/metrics"

// ServiceMonitorEnabled reports whether spec.monitoring.serviceMonitor.enabled is true.
func ServiceMonitorEnabled(us *appsv1alpha1.UserService) bool {
	sm := us.Spec.Monitoring.ServiceMonitor
	return sm != nil && sm.Enabled
}

// ServiceMonitor returns the Prometheus Operator ServiceMonitor that scrapes
// /metrics on the http port of the UserService's Service, or nil when
// spec.monitoring.serviceMonitor is not enabled. Its jobLabel makes the job
// label of every UserService's series "user-service" (the Service's
// app.kubernetes.io/name), which the chart's alerts and dashboard select
// on; the service, namespace and pod labels tell the UserServices apart.
func ServiceMonitor(us *appsv1alpha1.UserService) *monitoringv1.ServiceMonitor {
	if !ServiceMonitorEnabled(us) {
		return nil
	}
	spec := us.Spec.Monitoring.ServiceMonitor
	meta := objectMeta(us, us.Name, "")
	labels := maps.Clone(spec.Labels)
	if labels == nil {
		labels = map[string]string{}
	}
	maps.Copy(labels, meta.Labels)
	meta.Labels = labels
	return &monitoringv1.ServiceMonitor{
		TypeMeta:   metav1.TypeMeta{APIVersion: monitoringv1.SchemeGroupVersion.String(), Kind: monitoringv1.ServiceMonitorsKind},
		ObjectMeta: meta,
		Spec: monitoringv1.ServiceMonitorSpec{
			JobLabel: LabelName,
			Selector: metav1.LabelSelector{MatchLabels: SelectorLabels(us)},
			Endpoints: []monitoringv1.Endpoint{{
				Port:     HTTPPortName,
				Path:     MetricsPath,
				Interval: monitoringv1.Duration(spec.Interval),
			}},
		},
	}
}
