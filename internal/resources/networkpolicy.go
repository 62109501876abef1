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
	"slices"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	appsv1alpha1 "github.com/userservice-dev/userservice-operator/api/v1alpha1"
)

// DNSPort is the port the NetworkPolicy's egress rules allow for name resolution.
const DNSPort = 53

// NetworkPolicyEnabled reports whether spec.networkPolicy.enabled is true.
func NetworkPolicyEnabled(us *appsv1alpha1.UserService) bool {
	return us.Spec.NetworkPolicy != nil && us.Spec.NetworkPolicy.Enabled
}

// NetworkPolicy returns the NetworkPolicy of the UserService's server pods,
// or nil when spec.networkPolicy is not enabled. Ingress reaches the pods'
// ports (http, and grpc when enabled) only from the peers of spec.networkPolicy.from, and the http port
// (which serves /metrics) also from spec.networkPolicy.monitoring; with no
// peer at all, the pods accept no connection (policy type Ingress, no rule). With egress set, the pods
// reach only port 53 (DNS, TCP and UDP), the database's CIDR and port, and
// the extra rules. The migration Job's pods are not selected.
func NetworkPolicy(us *appsv1alpha1.UserService) *networkingv1.NetworkPolicy {
	if !NetworkPolicyEnabled(us) {
		return nil
	}
	np := us.Spec.NetworkPolicy
	spec := networkingv1.NetworkPolicySpec{
		PodSelector: metav1.LabelSelector{MatchLabels: SelectorLabels(us)},
		PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
	}
	if len(np.From) > 0 {
		spec.Ingress = append(spec.Ingress, networkingv1.NetworkPolicyIngressRule{
			From: peers(np.From...), Ports: tcpPorts(servedPorts(us)...),
		})
	}
	if np.Monitoring != nil {
		spec.Ingress = append(spec.Ingress, networkingv1.NetworkPolicyIngressRule{
			From: peers(*np.Monitoring), Ports: tcpPorts(HTTPPort),
		})
	}
	if e := np.Egress; e != nil {
		spec.PolicyTypes = append(spec.PolicyTypes, networkingv1.PolicyTypeEgress)
		spec.Egress = append([]networkingv1.NetworkPolicyEgressRule{
			{Ports: []networkingv1.NetworkPolicyPort{port(corev1.ProtocolUDP, DNSPort), port(corev1.ProtocolTCP, DNSPort)}},
			{
				To:    []networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{CIDR: e.DatabaseCIDR}}},
				Ports: tcpPorts(databasePort(e)),
			},
		}, deepCopyEgress(e.Extra)...)
	}
	return &networkingv1.NetworkPolicy{
		TypeMeta:   metav1.TypeMeta{APIVersion: "networking.k8s.io/v1", Kind: "NetworkPolicy"},
		ObjectMeta: objectMeta(us, us.Name, ""),
		Spec:       spec,
	}
}

// servedPorts returns the container ports the pods serve on: http, and grpc when enabled.
func servedPorts(us *appsv1alpha1.UserService) []int32 {
	if GRPCEnabled(us) {
		return []int32{HTTPPort, GRPCPort(us)}
	}
	return []int32{HTTPPort}
}

// databasePort returns spec.networkPolicy.egress.databasePort, defaulted.
func databasePort(e *appsv1alpha1.NetworkPolicyEgressSpec) int32 {
	if e.DatabasePort == 0 {
		return appsv1alpha1.DefaultDatabasePort
	}
	return e.DatabasePort
}

// peers converts the spec's peers into NetworkPolicy peers.
func peers(in ...appsv1alpha1.NetworkPolicyPeer) []networkingv1.NetworkPolicyPeer {
	out := make([]networkingv1.NetworkPolicyPeer, 0, len(in))
	for _, p := range in {
		out = append(out, networkingv1.NetworkPolicyPeer{
			NamespaceSelector: p.NamespaceSelector.DeepCopy(),
			PodSelector:       p.PodSelector.DeepCopy(),
		})
	}
	return out
}

// tcpPorts returns TCP NetworkPolicy ports.
func tcpPorts(ports ...int32) []networkingv1.NetworkPolicyPort {
	out := make([]networkingv1.NetworkPolicyPort, 0, len(ports))
	for _, p := range ports {
		out = append(out, port(corev1.ProtocolTCP, p))
	}
	return out
}

// port returns one NetworkPolicy port.
func port(protocol corev1.Protocol, number int32) networkingv1.NetworkPolicyPort {
	return networkingv1.NetworkPolicyPort{Protocol: ptr.To(protocol), Port: ptr.To(intstr.FromInt32(number))}
}

// deepCopyEgress returns a deep copy of egress rules.
func deepCopyEgress(rules []networkingv1.NetworkPolicyEgressRule) []networkingv1.NetworkPolicyEgressRule {
	out := slices.Clone(rules)
	for i := range out {
		rules[i].DeepCopyInto(&out[i])
	}
	return out
}
