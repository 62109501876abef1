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
	"testing"

	"github.com/google/go-cmp/cmp"
	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	appsv1alpha1 "github.com/userservice-dev/userservice-operator/api/v1alpha1"
)

func TestServiceMonitor(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*appsv1alpha1.UserService)
		want   *monitoringv1.ServiceMonitorSpec
		labels map[string]string
	}{
		{"unset", nil, nil, nil},
		{"disabled", func(us *appsv1alpha1.UserService) {
			us.Spec.Monitoring.ServiceMonitor = &appsv1alpha1.ServiceMonitorSpec{Interval: "15s"}
		}, nil, nil},
		{"enabled", func(us *appsv1alpha1.UserService) {
			us.Spec.Monitoring.ServiceMonitor = &appsv1alpha1.ServiceMonitorSpec{Enabled: true}
		}, &monitoringv1.ServiceMonitorSpec{
			JobLabel:  "app.kubernetes.io/name",
			Selector:  metav1.LabelSelector{MatchLabels: map[string]string{LabelName: AppName, LabelInstance: "users"}},
			Endpoints: []monitoringv1.Endpoint{{Port: "http", Path: "/metrics"}},
		}, map[string]string{LabelName: AppName, LabelInstance: "users", LabelManagedBy: ManagedBy}},
		{"interval and labels", func(us *appsv1alpha1.UserService) {
			us.Spec.Monitoring.ServiceMonitor = &appsv1alpha1.ServiceMonitorSpec{Enabled: true, Interval: "15s",
				Labels: map[string]string{"release": "prometheus"}}
		}, &monitoringv1.ServiceMonitorSpec{
			JobLabel:  "app.kubernetes.io/name",
			Selector:  metav1.LabelSelector{MatchLabels: map[string]string{LabelName: AppName, LabelInstance: "users"}},
			Endpoints: []monitoringv1.Endpoint{{Port: "http", Path: "/metrics", Interval: "15s"}},
		}, map[string]string{LabelName: AppName, LabelInstance: "users", LabelManagedBy: ManagedBy, "release": "prometheus"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			us := newUS(tt.mutate)
			sm := ServiceMonitor(us)
			if tt.want == nil {
				if sm != nil {
					t.Fatalf("ServiceMonitor = %+v, want nil", sm)
				}
				return
			}
			if d := cmp.Diff(*tt.want, sm.Spec); d != "" {
				t.Errorf("spec (-want +got):\n%s", d)
			}
			if d := cmp.Diff(tt.labels, sm.Labels); d != "" {
				t.Errorf("labels (-want +got):\n%s", d)
			}
			if sm.Name != "users" || sm.Namespace != "prod" || sm.Kind != "ServiceMonitor" ||
				sm.APIVersion != "monitoring.coreos.com/v1" || len(sm.OwnerReferences) != 1 || sm.OwnerReferences[0].UID != "uid-1" {
				t.Errorf("metadata = %+v %+v, want users/prod owned by the UserService", sm.TypeMeta, sm.ObjectMeta)
			}
			if Service(us).Labels[sm.Spec.JobLabel] != AppName {
				t.Errorf("the Service has no %s label, so the job label would be empty", sm.Spec.JobLabel)
			}
		})
	}
}

// npCase is one case of TestNetworkPolicy: the spec's networkPolicy and grpc, and the policy's wanted spec (nil: none).
type npCase struct {
	name   string
	policy *appsv1alpha1.NetworkPolicySpec
	grpc   appsv1alpha1.GRPCSpec
	want   *networkingv1.NetworkPolicySpec
}

func TestNetworkPolicy(t *testing.T) {
	monitoring := appsv1alpha1.NetworkPolicyPeer{
		NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": "monitoring"}},
		PodSelector:       &metav1.LabelSelector{MatchLabels: map[string]string{"app.kubernetes.io/name": "prometheus"}},
	}
	frontend := appsv1alpha1.NetworkPolicyPeer{PodSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "frontend"}}}
	tcp := func(p int32) networkingv1.NetworkPolicyPort {
		return networkingv1.NetworkPolicyPort{Protocol: ptr.To(corev1.ProtocolTCP), Port: ptr.To(intstr.FromInt32(p))}
	}
	dns := networkingv1.NetworkPolicyEgressRule{Ports: []networkingv1.NetworkPolicyPort{
		{Protocol: ptr.To(corev1.ProtocolUDP), Port: ptr.To(intstr.FromInt32(53))}, tcp(53)}}
	selector := metav1.LabelSelector{MatchLabels: map[string]string{LabelName: AppName, LabelInstance: "users"}}
	tests := []npCase{
		{"unset", nil, appsv1alpha1.GRPCSpec{}, nil},
		{"disabled", &appsv1alpha1.NetworkPolicySpec{From: []appsv1alpha1.NetworkPolicyPeer{frontend}}, appsv1alpha1.GRPCSpec{}, nil},
		{"no peer denies all ingress", &appsv1alpha1.NetworkPolicySpec{Enabled: true}, appsv1alpha1.GRPCSpec{}, &networkingv1.NetworkPolicySpec{
			PodSelector: selector, PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
		}},
		{"clients and monitoring", &appsv1alpha1.NetworkPolicySpec{Enabled: true,
			From: []appsv1alpha1.NetworkPolicyPeer{frontend}, Monitoring: &monitoring}, appsv1alpha1.GRPCSpec{}, &networkingv1.NetworkPolicySpec{
			PodSelector: selector, PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
			Ingress: []networkingv1.NetworkPolicyIngressRule{
				{From: []networkingv1.NetworkPolicyPeer{{PodSelector: frontend.PodSelector}},
					Ports: []networkingv1.NetworkPolicyPort{tcp(3000), tcp(50051)}},
				{From: []networkingv1.NetworkPolicyPeer{{NamespaceSelector: monitoring.NamespaceSelector, PodSelector: monitoring.PodSelector}},
					Ports: []networkingv1.NetworkPolicyPort{tcp(3000)}},
			},
		}},
		{"egress to DNS, the database and extra", &appsv1alpha1.NetworkPolicySpec{Enabled: true, Monitoring: &monitoring,
			Egress: &appsv1alpha1.NetworkPolicyEgressSpec{DatabaseCIDR: "10.0.12.0/24", Extra: []networkingv1.NetworkPolicyEgressRule{
				{To: []networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{CIDR: "10.0.13.5/32"}}}, Ports: []networkingv1.NetworkPolicyPort{tcp(5672)}},
			}}}, appsv1alpha1.GRPCSpec{}, &networkingv1.NetworkPolicySpec{
			PodSelector: selector, PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress},
			Ingress: []networkingv1.NetworkPolicyIngressRule{
				{From: []networkingv1.NetworkPolicyPeer{{NamespaceSelector: monitoring.NamespaceSelector, PodSelector: monitoring.PodSelector}},
					Ports: []networkingv1.NetworkPolicyPort{tcp(3000)}},
			},
			Egress: []networkingv1.NetworkPolicyEgressRule{
				dns,
				{To: []networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{CIDR: "10.0.12.0/24"}}}, Ports: []networkingv1.NetworkPolicyPort{tcp(5432)}},
				{To: []networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{CIDR: "10.0.13.5/32"}}}, Ports: []networkingv1.NetworkPolicyPort{tcp(5672)}},
			},
		}},
		{"database port", &appsv1alpha1.NetworkPolicySpec{Enabled: true,
			Egress: &appsv1alpha1.NetworkPolicyEgressSpec{DatabaseCIDR: "10.0.12.7/32", DatabasePort: 6432}}, appsv1alpha1.GRPCSpec{},
			&networkingv1.NetworkPolicySpec{
				PodSelector: selector, PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress},
				Egress: []networkingv1.NetworkPolicyEgressRule{
					dns,
					{To: []networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{CIDR: "10.0.12.7/32"}}}, Ports: []networkingv1.NetworkPolicyPort{tcp(6432)}},
				},
			}},
		{"gRPC on another port, then off", &appsv1alpha1.NetworkPolicySpec{Enabled: true, From: []appsv1alpha1.NetworkPolicyPeer{frontend}},
			appsv1alpha1.GRPCSpec{Port: 9090}, &networkingv1.NetworkPolicySpec{
				PodSelector: selector, PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
				Ingress: []networkingv1.NetworkPolicyIngressRule{{From: []networkingv1.NetworkPolicyPeer{{PodSelector: frontend.PodSelector}},
					Ports: []networkingv1.NetworkPolicyPort{tcp(3000), tcp(9090)}}},
			}},
		{"gRPC off", &appsv1alpha1.NetworkPolicySpec{Enabled: true, From: []appsv1alpha1.NetworkPolicyPeer{frontend}},
			appsv1alpha1.GRPCSpec{Enabled: ptr.To(false)}, &networkingv1.NetworkPolicySpec{
				PodSelector: selector, PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
				Ingress: []networkingv1.NetworkPolicyIngressRule{{From: []networkingv1.NetworkPolicyPeer{{PodSelector: frontend.PodSelector}},
					Ports: []networkingv1.NetworkPolicyPort{tcp(3000)}}},
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			us := newUS(func(us *appsv1alpha1.UserService) { us.Spec.NetworkPolicy, us.Spec.GRPC = tt.policy, tt.grpc })
			np := NetworkPolicy(us)
			if tt.want == nil {
				if np != nil {
					t.Fatalf("NetworkPolicy = %+v, want nil", np)
				}
				return
			}
			if d := cmp.Diff(*tt.want, np.Spec); d != "" {
				t.Errorf("spec (-want +got):\n%s", d)
			}
			if np.Name != "users" || np.Kind != "NetworkPolicy" || len(np.OwnerReferences) != 1 {
				t.Errorf("metadata = %+v %+v", np.TypeMeta, np.ObjectMeta)
			}
			if tt.policy.Egress != nil && len(tt.policy.Egress.Extra) > 0 && &np.Spec.Egress[2].To[0] == &tt.policy.Egress.Extra[0].To[0] {
				t.Error("the extra egress rules share memory with the spec")
			}
		})
	}
}
