//go:build e2e && !realnode

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

package e2e

import (
	. "github.com/onsi/ginkgo/v2" //nolint:revive // Ginkgo's DSL is meant to be dot-imported.
	. "github.com/onsi/gomega"    //nolint:revive // Gomega's DSL is meant to be dot-imported.
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/userservice-dev/userservice-operator/internal/testenv"
)

var _ = Describe("A UserService with a NetworkPolicy and a ServiceMonitor", func() {
	It("gets the NetworkPolicy its spec describes, and its ServiceMonitor once the CRD is installed, "+
		"without an operator restart", func() {
		ns := newNamespace("observability")
		createUserService(ns, "users", 2, func(spec map[string]any) {
			spec["monitoring"] = map[string]any{"serviceMonitor": map[string]any{"enabled": true, "interval": "15s"}}
			spec["networkPolicy"] = map[string]any{
				"enabled": true,
				"from": []any{map[string]any{
					"namespaceSelector": map[string]any{"matchLabels": map[string]any{"kubernetes.io/metadata.name": "shop"}},
					"podSelector":       map[string]any{"matchLabels": map[string]any{"app": "frontend"}},
				}},
				"monitoring": map[string]any{
					"namespaceSelector": map[string]any{"matchLabels": map[string]any{"kubernetes.io/metadata.name": "monitoring"}},
				},
				"egress": map[string]any{"databaseCIDR": "10.0.12.0/24"},
			}
		})
		waitReady(ns, "users")
		Eventually(conditionIs(ns, "users", "ServiceMonitorReady", metav1.ConditionFalse,
			"CRDNotInstalled")).Should(Succeed())

		By("the NetworkPolicy")
		np := &networkingv1.NetworkPolicy{}
		Expect(k8s.Get(ctx(), client.ObjectKey{Namespace: ns, Name: "users"}, np)).To(Succeed())
		Expect(np.OwnerReferences).To(ConsistOf(HaveField("Kind", "UserService")))
		Expect(np.Spec.PodSelector.MatchLabels).To(Equal(map[string]string{
			"app.kubernetes.io/name": "user-service", "app.kubernetes.io/instance": "users"}))
		Expect(np.Spec.PolicyTypes).To(ConsistOf(networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress))
		tcp := func(p int32) networkingv1.NetworkPolicyPort {
			return networkingv1.NetworkPolicyPort{Protocol: ptr.To(corev1.ProtocolTCP), Port: ptr.To(intstr.FromInt32(p))}
		}
		Expect(np.Spec.Ingress).To(HaveLen(2))
		Expect(np.Spec.Ingress[0].Ports).To(Equal([]networkingv1.NetworkPolicyPort{tcp(3000), tcp(50051)}))
		Expect(np.Spec.Ingress[0].From[0].PodSelector.MatchLabels).To(HaveKeyWithValue("app", "frontend"))
		Expect(np.Spec.Ingress[1].Ports).To(Equal([]networkingv1.NetworkPolicyPort{tcp(3000)}))
		Expect(np.Spec.Ingress[1].From[0].NamespaceSelector.MatchLabels).
			To(HaveKeyWithValue("kubernetes.io/metadata.name", "monitoring"))
		Expect(np.Spec.Egress).To(HaveLen(2))
		Expect(np.Spec.Egress[0].To).To(BeEmpty(), "DNS to any destination")
		Expect(np.Spec.Egress[0].Ports).To(ConsistOf(HaveField("Port", HaveValue(Equal(intstr.FromInt32(53)))),
			HaveField("Port", HaveValue(Equal(intstr.FromInt32(53))))))
		Expect(np.Spec.Egress[1].To[0].IPBlock.CIDR).To(Equal("10.0.12.0/24"))
		Expect(np.Spec.Egress[1].Ports).To(Equal([]networkingv1.NetworkPolicyPort{tcp(5432)}))

		By("installing the ServiceMonitor CRD while the operator runs")
		installServiceMonitorCRD()
		sm := &unstructured.Unstructured{}
		sm.SetGroupVersionKind(schema.GroupVersionKind{Group: "monitoring.coreos.com", Version: "v1", Kind: "ServiceMonitor"})
		Eventually(func() error { return k8s.Get(ctx(), client.ObjectKey{Namespace: ns, Name: "users"}, sm) }).
			Should(Succeed(), "the operator checks for the CRD every 30s")
		Expect(sm.GetOwnerReferences()).To(ConsistOf(HaveField("Kind", "UserService")))
		Expect(sm.Object["spec"]).To(And(HaveKeyWithValue("jobLabel", "app.kubernetes.io/name"),
			HaveKeyWithValue("endpoints", ConsistOf(And(HaveKeyWithValue("port", "http"), HaveKeyWithValue("path", "/metrics"),
				HaveKeyWithValue("interval", "15s"))))))
		Eventually(conditionIs(ns, "users", "ServiceMonitorReady", metav1.ConditionTrue, "Applied")).Should(Succeed())
		Expect(ready(ns, "users")()).To(Succeed())
	})
})

// installServiceMonitorCRD installs a minimal ServiceMonitor CRD (see
// testenv.ServiceMonitorCRD) and removes it when the spec ends.
func installServiceMonitorCRD() {
	obj, err := runtime.DefaultUnstructuredConverter.ToUnstructured(testenv.ServiceMonitorCRD())
	Expect(err).NotTo(HaveOccurred())
	crd := &unstructured.Unstructured{Object: obj}
	crd.SetGroupVersionKind(schema.GroupVersionKind{Group: "apiextensions.k8s.io", Version: "v1",
		Kind: "CustomResourceDefinition"})
	Expect(k8s.Create(ctx(), crd)).To(Succeed())
	DeferCleanup(func() {
		Expect(client.IgnoreNotFound(k8s.Delete(ctx(), crd))).To(Succeed())
		Eventually(func() bool { return apierrors.IsNotFound(k8s.Get(ctx(), client.ObjectKeyFromObject(crd), crd)) }).
			Should(BeTrue())
	})
}
