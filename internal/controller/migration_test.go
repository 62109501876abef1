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
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	appsv1alpha1 "github.com/userservice-dev/userservice-operator/api/v1alpha1"
	"github.com/userservice-dev/userservice-operator/internal/resources"
)

var _ = Describe("Migration Jobs", func() {
	var ns string
	BeforeEach(func() { ns = newNamespace() })

	It("gates a new image on its migration Job", func() {
		readyWith(ns, nil)

		By("keeping the old template while the new image's Job runs")
		updateUS(ns, func(us *appsv1alpha1.UserService) { us.Spec.Image = imageV2 })
		jobV2 := migrationJob(ns, imageV2)
		Eventually(func() metav1.Condition { return condition(ns, "Progressing") }).
			Should(haveCondition(metav1.ConditionTrue, ReasonMigrating))
		Expect(condition(ns, "Ready")).To(haveCondition(metav1.ConditionFalse, ReasonMigrating))
		Consistently(func() string { return deploymentImageOf(ns) }).Should(Equal(imageV1))

		By("keeping the old template and reporting Degraded when the Job fails")
		finishJob(jobV2, false)
		Eventually(func() metav1.Condition { return condition(ns, "Degraded") }).Should(And(
			haveCondition(metav1.ConditionTrue, ReasonMigrationFailed), HaveField("Message", ContainSubstring(jobV2.Name))))
		Expect(deploymentImageOf(ns)).To(Equal(imageV1))
		Expect(getUS(ns).Status.MigratedImage).To(Equal(imageV1))
		Eventually(func() []string { return eventReasons(ns) }).Should(ContainElement(EventMigrationFailed))
		Consistently(func() string { return deploymentImageOf(ns) }).Should(Equal(imageV1))
		Expect(getObj(ns, jobV2.Name, &batchv1.Job{})).To(Succeed(), "a failed Job is kept for its logs")
		Eventually(func() *int32 {
			Expect(getObj(ns, jobV2.Name, jobV2)).To(Succeed())
			return jobV2.Spec.TTLSecondsAfterFinished
		}).Should(BeNil(), "a failed Job loses the TTL it was created with, so that it is kept")

		By("starting a new Job for a fixed image and rolling out once it succeeds")
		updateUS(ns, func(us *appsv1alpha1.UserService) { us.Spec.Image = imageV3 })
		jobV3 := migrationJob(ns, imageV3)
		Expect(jobV3.Name).NotTo(Equal(jobV2.Name))
		Expect(deploymentImageOf(ns)).To(Equal(imageV1))
		finishJob(jobV3, true)
		Eventually(func() string { return deploymentImageOf(ns) }).Should(Equal(imageV3))
		rollOutDeployment(ns)
		Eventually(func() metav1.Condition { return condition(ns, "Ready") }).
			Should(haveCondition(metav1.ConditionTrue, ReasonRolloutComplete))
		us := getUS(ns)
		Expect(us.Status.MigratedImage).To(Equal(imageV3))
		Expect(condition(ns, "Degraded")).To(haveCondition(metav1.ConditionFalse, ReasonAsExpected))
	})

	It("rolls out directly when migrations are disabled", func() {
		readyWith(ns, func(us *appsv1alpha1.UserService) { us.Spec.Migrations.Enabled = ptr.To(false) })
		updateUS(ns, func(us *appsv1alpha1.UserService) { us.Spec.Image = imageV2 })
		Eventually(func() string { return deploymentImageOf(ns) }).Should(Equal(imageV2))
		var jobs batchv1.JobList
		Expect(k8sClient.List(ctx, &jobs, client.InNamespace(ns))).To(Succeed())
		Expect(jobs.Items).To(BeEmpty())
	})

	It("prunes old migration Jobs, keeping the last 3", func() {
		readyWith(ns, nil)
		for i, image := range []string{imageV2, imageV3, imageV1 + "-a", imageV1 + "-b"} {
			updateUS(ns, func(us *appsv1alpha1.UserService) { us.Spec.Image = image })
			succeedMigration(ns, image)
			Eventually(func() string { return deploymentImageOf(ns) }).Should(Equal(image), "step %d", i)
		}
		Eventually(func() ([]batchv1.Job, error) {
			var jobs batchv1.JobList
			return jobs.Items, k8sClient.List(ctx, &jobs, client.InNamespace(ns))
		}).Should(HaveLen(3))
		Expect(getObj(ns, resources.MigrationJobName(getUS(ns), imageV1+"-b"), &batchv1.Job{})).To(Succeed())
	})
})
