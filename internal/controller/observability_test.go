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
	"maps"
	"slices"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	dto "github.com/prometheus/client_model/go"
	networkingv1 "k8s.io/api/networking/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	appsv1alpha1 "github.com/userservice-dev/userservice-operator/api/v1alpha1"
	"github.com/userservice-dev/userservice-operator/internal/resources"
	"github.com/userservice-dev/userservice-operator/internal/testenv"
)

// withServiceMonitor enables spec.monitoring.serviceMonitor.
func withServiceMonitor(us *appsv1alpha1.UserService) {
	us.Spec.Monitoring.ServiceMonitor = &appsv1alpha1.ServiceMonitorSpec{Enabled: true, Interval: "15s",
		Labels: map[string]string{"release": "prometheus"}}
}

// withNetworkPolicy enables spec.networkPolicy with clients, monitoring and egress.
func withNetworkPolicy(us *appsv1alpha1.UserService) {
	us.Spec.NetworkPolicy = &appsv1alpha1.NetworkPolicySpec{
		Enabled: true,
		From: []appsv1alpha1.NetworkPolicyPeer{{PodSelector: &metav1.LabelSelector{
			MatchLabels: map[string]string{"app": "frontend"}}}},
		Monitoring: &appsv1alpha1.NetworkPolicyPeer{NamespaceSelector: &metav1.LabelSelector{
			MatchLabels: map[string]string{"kubernetes.io/metadata.name": "monitoring"}}},
		Egress: &appsv1alpha1.NetworkPolicyEgressSpec{DatabaseCIDR: "10.0.12.0/24"},
	}
}

// serviceMonitorServed reports whether discovery lists ServiceMonitors.
func serviceMonitorServed() bool {
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	Expect(err).NotTo(HaveOccurred())
	list, err := dc.ServerResourcesForGroupVersion(monitoringv1.SchemeGroupVersion.String())
	return err == nil && slices.ContainsFunc(list.APIResources, func(r metav1.APIResource) bool { return r.Name == "servicemonitors" })
}

// installServiceMonitorCRD installs the ServiceMonitor CRD unless it exists,
// and waits until the operator reads ServiceMonitors.
func installServiceMonitorCRD() {
	err := k8sClient.Create(ctx, testenv.ServiceMonitorCRD())
	if !apierrors.IsAlreadyExists(err) {
		Expect(err).NotTo(HaveOccurred())
	}
	Eventually(func() bool { return reconciler.monitors.reader() != nil }).Should(BeTrue(),
		"the operator never started watching ServiceMonitors")
}

// removeServiceMonitorCRD deletes the ServiceMonitor CRD, if installed, and
// waits until the operator has stopped watching ServiceMonitors.
func removeServiceMonitorCRD() {
	crd := &apiextensionsv1.CustomResourceDefinition{ObjectMeta: metav1.ObjectMeta{Name: testenv.ServiceMonitorCRD().Name}}
	Expect(client.IgnoreNotFound(k8sClient.Delete(ctx, crd))).To(Succeed())
	Eventually(serviceMonitorServed).Should(BeFalse())
	Eventually(func() bool { return reconciler.monitors.reader() == nil }).Should(BeTrue(),
		"the operator kept its ServiceMonitor cache after the CRD was removed")
}

// gathered returns the value of the series of the operator's registry with
// the given name and labels (the sample count of a histogram), and whether it exists.
func gathered(name string, labels map[string]string) (float64, bool) {
	families, err := ctrlmetrics.Registry.Gather()
	Expect(err).NotTo(HaveOccurred())
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			if hasLabels(m, labels) {
				switch {
				case m.Gauge != nil:
					return m.GetGauge().GetValue(), true
				case m.Counter != nil:
					return m.GetCounter().GetValue(), true
				case m.Histogram != nil:
					return float64(m.GetHistogram().GetSampleCount()), true
				}
			}
		}
	}
	return 0, false
}

// value returns the value of a series of the operator's registry, -1 when it does not exist.
func value(name string, labels map[string]string) float64 {
	if v, ok := gathered(name, labels); ok {
		return v
	}
	return -1
}

// hasLabels reports whether m carries every label of want.
func hasLabels(m *dto.Metric, want map[string]string) bool {
	n := 0
	for _, l := range m.GetLabel() {
		if v, ok := want[l.GetName()]; ok && v == l.GetValue() {
			n++
		}
	}
	return n == len(want)
}

var _ = Describe("ServiceMonitor", Ordered, func() {
	var ns string
	BeforeEach(func() { ns = newNamespace() })

	It("says the CRD is missing while everything else becomes Ready, then creates the ServiceMonitor once the CRD "+
		"is installed, without a restart", func() {
		removeServiceMonitorCRD()
		readyWith(ns, withServiceMonitor)
		Eventually(func() metav1.Condition { return condition(ns, appsv1alpha1.ConditionServiceMonitorReady) }).
			Should(haveCondition(metav1.ConditionFalse, ReasonCRDNotInstalled))
		Expect(condition(ns, "Ready").Status).To(Equal(metav1.ConditionTrue), "a missing CRD must not make the UserService unready")
		Eventually(func() []string { return eventReasons(ns) }).Should(ContainElement(EventServiceMonitorCRD))

		By("installing the CRD")
		installServiceMonitorCRD()
		sm := &monitoringv1.ServiceMonitor{}
		Eventually(func() error { return getObj(ns, "users", sm) }).Should(Succeed())
		us := getUS(ns)
		Expect(sm.OwnerReferences).To(ConsistOf(And(HaveField("UID", us.UID), HaveField("Controller", HaveValue(BeTrue())))))
		Expect(sm.Labels).To(And(HaveKeyWithValue("release", "prometheus"), HaveKeyWithValue(resources.LabelManagedBy, resources.ManagedBy)))
		Expect(sm.Spec.JobLabel).To(Equal(resources.LabelName))
		Expect(sm.Spec.Endpoints).To(ConsistOf(And(HaveField("Port", "http"), HaveField("Path", "/metrics"),
			HaveField("Interval", monitoringv1.Duration("15s")))))
		Eventually(func() metav1.Condition { return condition(ns, appsv1alpha1.ConditionServiceMonitorReady) }).
			Should(haveCondition(metav1.ConditionTrue, ReasonServiceMonitorApplied))

		By("deleting the ServiceMonitor by hand: it comes back")
		Expect(k8sClient.Delete(ctx, sm)).To(Succeed())
		Eventually(func() types.UID {
			got := &monitoringv1.ServiceMonitor{}
			_ = getObj(ns, "users", got)
			return got.UID
		}).ShouldNot(Or(BeEmpty(), Equal(sm.UID)))

		By("disabling it: the ServiceMonitor and the condition go")
		updateUS(ns, func(us *appsv1alpha1.UserService) { us.Spec.Monitoring.ServiceMonitor.Enabled = false })
		Eventually(func() error { return getObj(ns, "users", &monitoringv1.ServiceMonitor{}) }).Should(Satisfy(apierrors.IsNotFound))
		Eventually(func() string { return condition(ns, appsv1alpha1.ConditionServiceMonitorReady).Type }).Should(BeEmpty())
	})

	It("reports the CRD missing again when it is removed, and keeps the UserService Ready", func() {
		installServiceMonitorCRD()
		readyWith(ns, withServiceMonitor)
		Eventually(func() error { return getObj(ns, "users", &monitoringv1.ServiceMonitor{}) }).Should(Succeed())
		removeServiceMonitorCRD()
		Eventually(func() metav1.Condition { return condition(ns, appsv1alpha1.ConditionServiceMonitorReady) }).
			Should(haveCondition(metav1.ConditionFalse, ReasonCRDNotInstalled))
		Expect(condition(ns, "Ready").Status).To(Equal(metav1.ConditionTrue))
		installServiceMonitorCRD()
	})
})

var _ = Describe("NetworkPolicy", func() {
	It("creates the NetworkPolicy the spec asks for, owned by the UserService, and deletes it when disabled", func() {
		ns := newNamespace()
		readyWith(ns, withNetworkPolicy)
		np := &networkingv1.NetworkPolicy{}
		Eventually(func() error { return getObj(ns, "users", np) }).Should(Succeed())
		Expect(np.OwnerReferences).To(ConsistOf(HaveField("UID", getUS(ns).UID)))
		Expect(np.Spec.PodSelector.MatchLabels).To(Equal(resources.SelectorLabels(getUS(ns))))
		Expect(np.Spec.PolicyTypes).To(ConsistOf(networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress))
		Expect(np.Spec.Ingress).To(HaveLen(2))
		Expect(np.Spec.Egress).To(HaveLen(2))

		updateUS(ns, func(us *appsv1alpha1.UserService) { us.Spec.NetworkPolicy.Enabled = false })
		Eventually(func() error { return getObj(ns, "users", &networkingv1.NetworkPolicy{}) }).Should(Satisfy(apierrors.IsNotFound))
	})
})

var _ = Describe("Operator metrics", func() {
	It("exports the conditions, info and replicas of each UserService, and drops them when it is deleted", func() {
		ns := newNamespace()
		readyWith(ns, nil)
		id := map[string]string{"namespace": ns, "name": "users"}
		with := func(extra map[string]string) map[string]string {
			m := map[string]string{"namespace": ns, "name": "users"}
			maps.Copy(m, extra)
			return m
		}
		Eventually(func() float64 {
			return value("userservice_status_condition", with(map[string]string{"type": "Ready", "status": "true"}))
		}).Should(BeEquivalentTo(1))
		Expect(value("userservice_status_condition", with(map[string]string{"type": "Ready", "status": "false"}))).To(BeEquivalentTo(0))
		Expect(value("userservice_info", with(map[string]string{"image": imageV1, "migrated_image": imageV1}))).To(BeEquivalentTo(1))
		for state, want := range map[string]int{"desired": 2, "ready": 2, "updated": 2} {
			Expect(value("userservice_replicas", with(map[string]string{"state": state}))).To(BeEquivalentTo(want), state)
		}

		Expect(k8sClient.Delete(ctx, getUS(ns))).To(Succeed())
		for _, name := range []string{"userservice_status_condition", "userservice_info", "userservice_replicas"} {
			Eventually(func() bool { _, ok := gathered(name, id); return ok }).Should(BeFalse(), name)
		}
	})

	It("counts each finished migration Job once, whatever the number of reconciles", func() {
		ns := newNamespace()
		succeeded := func() float64 {
			return value("userservice_migrations_total", map[string]string{"result": ResultSucceeded})
		}
		failed := func() float64 {
			return value("userservice_migrations_total", map[string]string{"result": ResultFailed})
		}
		timed := func(result string) float64 {
			return value("userservice_migration_duration_seconds", map[string]string{"result": result})
		}
		s0, f0, t0 := succeeded(), failed(), timed(ResultFailed)
		readyWith(ns, nil)
		Eventually(succeeded).Should(Equal(s0 + 1))

		updateUS(ns, func(us *appsv1alpha1.UserService) { us.Spec.Image = imageV2 })
		finishJob(migrationJob(ns, imageV2), false)
		Eventually(func() metav1.Condition { return condition(ns, "Degraded") }).
			Should(haveCondition(metav1.ConditionTrue, ReasonMigrationFailed))
		Eventually(failed).Should(Equal(f0 + 1))
		Expect(timed(ResultFailed)).To(Equal(t0+1), "the failed Job had a start time, so it is timed")
		for range 3 {
			_, err := reconciler.Reconcile(ctx, reconcile.Request{NamespacedName: client.ObjectKey{Namespace: ns, Name: "users"}})
			Expect(err).NotTo(HaveOccurred())
		}
		Consistently(func() []float64 { return []float64{succeeded(), failed()} }).Should(Equal([]float64{s0 + 1, f0 + 1}))
	})
})
