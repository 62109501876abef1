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

package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// MonitoringSpec configures the scraping of the service's /metrics.
type MonitoringSpec struct {
	// serviceMonitor creates a Prometheus Operator ServiceMonitor
	// (monitoring.coreos.com/v1) for the Service's http port and /metrics.
	// While that CRD is not installed, the ServiceMonitorReady condition says
	// so and everything else is reconciled; once it is installed, the
	// ServiceMonitor is created without a restart of the operator.
	// +optional
	ServiceMonitor *ServiceMonitorSpec `json:"serviceMonitor,omitempty"`
}

// ServiceMonitorSpec configures the ServiceMonitor.
type ServiceMonitorSpec struct {
	// enabled creates the ServiceMonitor.
	// +optional
	Enabled bool `json:"enabled,omitempty"`

	// interval between scrapes, such as 30s; empty: Prometheus' global interval.
	// +optional
	// +kubebuilder:validation:Pattern=`^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$`
	Interval string `json:"interval,omitempty"`

	// labels added to the ServiceMonitor, such as the release label that
	// your Prometheus' serviceMonitorSelector matches.
	// +optional
	// +kubebuilder:validation:MaxProperties=16
	// +kubebuilder:validation:XValidation:rule="self.all(k, !k.startsWith('app.kubernetes.io/'))",message="spec.monitoring.serviceMonitor.labels must not set app.kubernetes.io/ labels: the operator sets them"
	Labels map[string]string `json:"labels,omitempty"`
}

// NetworkPolicySpec configures the UserService's NetworkPolicy. Enforcing it
// needs a CNI plugin that implements NetworkPolicies (Calico, Cilium, ...).
type NetworkPolicySpec struct {
	// enabled creates the NetworkPolicy, selecting the UserService's pods.
	// +optional
	Enabled bool `json:"enabled,omitempty"`

	// from lists the clients allowed to reach the service's ports (http, and
	// grpc when enabled). Each entry selects pods by namespace and/or pod
	// labels. Empty: no client may connect, except monitoring.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=32
	From []NetworkPolicyPeer `json:"from,omitempty"`

	// monitoring selects the Prometheus pods allowed to scrape /metrics,
	// which the service serves on its http port.
	// +optional
	Monitoring *NetworkPolicyPeer `json:"monitoring,omitempty"`

	// egress, when set, restricts the pods' egress to DNS (port 53) and the
	// database's CIDR and port, plus the rules listed in extra.
	// +optional
	Egress *NetworkPolicyEgressSpec `json:"egress,omitempty"`
}

// NetworkPolicyPeer selects pods by namespace and pod labels: pods matching
// podSelector in the namespaces matching namespaceSelector; without
// namespaceSelector, pods of the UserService's namespace; without
// podSelector, every pod of the selected namespaces.
// +kubebuilder:validation:XValidation:rule="has(self.namespaceSelector) || has(self.podSelector)",message="a network policy peer must set namespaceSelector, podSelector or both"
type NetworkPolicyPeer struct {
	// namespaceSelector selects namespaces by their labels, such as
	// kubernetes.io/metadata.name: monitoring.
	// +optional
	NamespaceSelector *metav1.LabelSelector `json:"namespaceSelector,omitempty"`

	// podSelector selects pods by their labels.
	// +optional
	PodSelector *metav1.LabelSelector `json:"podSelector,omitempty"`
}

// NetworkPolicyEgressSpec restricts the pods' egress.
type NetworkPolicyEgressSpec struct {
	// databaseCIDR is the address range of the PostgreSQL server, such as
	// 10.0.12.0/24 or 10.0.12.7/32.
	// +required
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:XValidation:rule="isCIDR(self)",message="spec.networkPolicy.egress.databaseCIDR must be a CIDR such as 10.0.12.0/24"
	DatabaseCIDR string `json:"databaseCIDR"`

	// databasePort is the PostgreSQL server's port.
	// +optional
	// +kubebuilder:default=5432
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	DatabasePort int32 `json:"databasePort,omitempty"`

	// extra lists further allowed destinations, such as the RabbitMQ broker
	// of the events or the OTLP endpoint of the traces.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=16
	Extra []networkingv1.NetworkPolicyEgressRule `json:"extra,omitempty"`
}

// ServiceSpec configures the Service.
type ServiceSpec struct {
	// type of the Service.
	// +optional
	// +kubebuilder:default=ClusterIP
	// +kubebuilder:validation:Enum=ClusterIP;NodePort;LoadBalancer
	Type corev1.ServiceType `json:"type,omitempty"`

	// port the Service listens on; it targets the pods' http port (3000).
	// +optional
	// +kubebuilder:default=80
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	Port int32 `json:"port,omitempty"`
}

// GRPCSpec configures the gRPC API.
// +kubebuilder:validation:XValidation:rule="!has(self.port) || self.port != 3000",message="spec.grpc.port must not be 3000: that is the pods' HTTP port"
type GRPCSpec struct {
	// enabled serves the gRPC API: the pods listen on port (GRPC_PORT), the
	// Service gets a port named grpc (appProtocol grpc), and the readiness
	// probe becomes Kubernetes' grpc probe of the standard health service,
	// which follows the same checks as /ready. When false, GRPC_PORT is 0
	// and the readiness probe is GET /ready.
	// +optional
	// +kubebuilder:default=true
	Enabled *bool `json:"enabled,omitempty"`

	// port is the pods' gRPC port and the Service's grpc port.
	// +optional
	// +kubebuilder:default=50051
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	Port int32 `json:"port,omitempty"`
}
