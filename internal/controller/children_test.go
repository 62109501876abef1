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
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	appsv1alpha1 "github.com/userservice-dev/userservice-operator/api/v1alpha1"
	"github.com/userservice-dev/userservice-operator/internal/resources"
)

var _ = Describe("UserService children", func() {
	var ns string
	BeforeEach(func() { ns = newNamespace() })

	It("does not take over a same-named Deployment it did not create", func() {
		labels := map[string]string{"app": "someone-else"}
		foreign := &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "users", Labels: labels},
			Spec: appsv1.DeploymentSpec{
				Selector: &metav1.LabelSelector{MatchLabels: labels},
				Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: labels},
					Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "someone/else:1"}}},
				},
			},
		}
		Expect(k8sClient.Create(ctx, foreign)).To(Succeed())
		createSecret(ns, "db", "url", "postgres://u:p@db:5432/users")
		createUserService(ns, func(us *appsv1alpha1.UserService) { us.Spec.Migrations.Enabled = ptr.To(false) })
		Eventually(func() metav1.Condition { return condition(ns, "Degraded") }).Should(And(
			haveCondition(metav1.ConditionTrue, ReasonResourceConflict),
			HaveField("Message", ContainSubstring(`Deployment "users" already exists and is not controlled by this UserService`))))
		got := &appsv1.Deployment{}
		Expect(getObj(ns, "users", got)).To(Succeed())
		Expect(got.OwnerReferences).To(BeEmpty())
		Expect(got.Spec.Template.Spec.Containers).To(HaveLen(1))
		Expect(got.Spec.Template.Spec.Containers[0].Image).To(Equal("someone/else:1"))
		Expect(got.Labels).NotTo(HaveKey(resources.LabelManagedBy))
	})

	It("puts back a hand-edited child and recreates a deleted one", func() {
		readyWith(ns, nil)

		By("editing the Deployment's replicas and image by hand")
		d := &appsv1.Deployment{}
		Expect(getObj(ns, "users", d)).To(Succeed())
		d.Spec.Replicas = ptr.To[int32](7)
		d.Spec.Template.Spec.Containers[0].Image = "evil:latest"
		Expect(k8sClient.Update(ctx, d)).To(Succeed())
		Eventually(func() (string, error) {
			err := getObj(ns, "users", d)
			return d.Spec.Template.Spec.Containers[0].Image, err
		}).Should(Equal(imageV1))
		Expect(*d.Spec.Replicas).To(Equal(int32(2)))

		By("editing the Service's port")
		svc := &corev1.Service{}
		Expect(getObj(ns, "users", svc)).To(Succeed())
		svc.Spec.Ports[0].Port = 9999
		Expect(k8sClient.Update(ctx, svc)).To(Succeed())
		Eventually(func() (int32, error) {
			err := getObj(ns, "users", svc)
			return svc.Spec.Ports[0].Port, err
		}).Should(Equal(int32(80)))

		By("deleting the Deployment")
		Expect(k8sClient.Delete(ctx, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "users"}})).To(Succeed())
		Eventually(func() string { return deploymentImageOf(ns) }).Should(Equal(imageV1))

		By("deleting the Service and the PodDisruptionBudget")
		Expect(k8sClient.Delete(ctx, svc)).To(Succeed())
		Expect(k8sClient.Delete(ctx, &policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "users"}})).To(Succeed())
		Eventually(func() error { return getObj(ns, "users", &corev1.Service{}) }).Should(Succeed())
		Eventually(func() error { return getObj(ns, "users", &policyv1.PodDisruptionBudget{}) }).Should(Succeed())
	})

	It("creates, updates and removes the HPA and the PodDisruptionBudget as the spec changes", func() {
		readyWith(ns, nil)
		pdb := &policyv1.PodDisruptionBudget{}
		Expect(getObj(ns, "users", pdb)).To(Succeed())

		By("enabling autoscaling: the HPA owns the replica count")
		updateUS(ns, func(us *appsv1alpha1.UserService) {
			us.Spec.Autoscaling = &appsv1alpha1.AutoscalingSpec{MinReplicas: ptr.To[int32](3), MaxReplicas: 6}
		})
		hpa := &autoscalingv2.HorizontalPodAutoscaler{}
		Eventually(func() error { return getObj(ns, "users", hpa) }).Should(Succeed())
		Expect(*hpa.Spec.MinReplicas).To(Equal(int32(3)))
		Eventually(func() bool { return operatorOwnsReplicas(ns) }).Should(BeFalse())
		Consistently(func() int32 {
			d := &appsv1.Deployment{}
			Expect(getObj(ns, "users", d)).To(Succeed())
			return *d.Spec.Replicas
		}).Should(Equal(int32(2)), "handing replicas to the HPA must not reset them to the default of 1")

		By("changing the HPA bounds")
		updateUS(ns, func(us *appsv1alpha1.UserService) { us.Spec.Autoscaling.MaxReplicas = 9 })
		Eventually(func() (int32, error) { err := getObj(ns, "users", hpa); return hpa.Spec.MaxReplicas, err }).Should(Equal(int32(9)))

		By("setting an explicit budget")
		updateUS(ns, func(us *appsv1alpha1.UserService) {
			us.Spec.PodDisruptionBudget = &appsv1alpha1.PodDisruptionBudgetSpec{MinAvailable: ptr.To(intstr.FromString("50%"))}
		})
		Eventually(func() (*intstr.IntOrString, error) {
			err := getObj(ns, "users", pdb)
			return pdb.Spec.MinAvailable, err
		}).
			Should(HaveValue(Equal(intstr.FromString("50%"))))
		Expect(pdb.Spec.MaxUnavailable).To(BeNil())

		By("removing autoscaling and the budget with one replica: both are deleted")
		updateUS(ns, func(us *appsv1alpha1.UserService) {
			us.Spec.Autoscaling = nil
			us.Spec.PodDisruptionBudget = nil
			us.Spec.Replicas = ptr.To[int32](1)
		})
		Eventually(func() error { return getObj(ns, "users", &autoscalingv2.HorizontalPodAutoscaler{}) }).Should(Satisfy(apierrors.IsNotFound))
		Eventually(func() error { return getObj(ns, "users", &policyv1.PodDisruptionBudget{}) }).Should(Satisfy(apierrors.IsNotFound))
		Eventually(func() int32 {
			d := &appsv1.Deployment{}
			Expect(getObj(ns, "users", d)).To(Succeed())
			return *d.Spec.Replicas
		}).Should(Equal(int32(1)))
	})

	It("serves the scale subresource, and scaling reaches the Deployment", func() {
		readyWith(ns, nil)
		us := getUS(ns)
		scale := &autoscalingv1.Scale{}
		Expect(k8sClient.SubResource("scale").Get(ctx, us, scale)).To(Succeed())
		Expect(scale.Status.Selector).To(Equal("app.kubernetes.io/instance=users,app.kubernetes.io/name=user-service"))
		Expect(scale.Status.Replicas).To(Equal(int32(2)))
		scale.Spec.Replicas = 4
		Expect(k8sClient.SubResource("scale").Update(ctx, us, client.WithSubResourceBody(scale))).To(Succeed())
		Eventually(func() int32 {
			d := &appsv1.Deployment{}
			Expect(getObj(ns, "users", d)).To(Succeed())
			return *d.Spec.Replicas
		}).Should(Equal(int32(4)))
	})
})

// operatorOwnsReplicas reports whether the operator's field manager owns the Deployment's spec.replicas.
func operatorOwnsReplicas(ns string) bool {
	d := &appsv1.Deployment{}
	Expect(getObj(ns, "users", d)).To(Succeed())
	for _, mf := range d.ManagedFields {
		if mf.Manager == resources.FieldOwner && mf.Operation == metav1.ManagedFieldsOperationApply &&
			strings.Contains(mf.FieldsV1.GetRawString(), `"f:replicas"`) {
			return true
		}
	}
	return false
}
