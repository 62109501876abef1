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
	"fmt"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2" //nolint:revive // Ginkgo's DSL is meant to be dot-imported.
	. "github.com/onsi/gomega"    //nolint:revive // Gomega's DSL is meant to be dot-imported.
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Every spec here leaves a leader-elected mainOperator running, because
// Ginkgo may run the other specs before or after this container.
var _ = Describe("Faults", Serial, Ordered, func() {
	It("converges with no lost or duplicated children after kill -9 in the middle of reconciling "+
		"50 UserServices", func() {
		const n = 50
		ns := newNamespace("kill9")
		for i := range n {
			createUserService(ns, fmt.Sprintf("u%02d", i), 1)
		}
		By("killing the operator with SIGKILL once it has started on them")
		Eventually(func() int { return len(jwtSecretUIDs(ns)) }).Should(BeNumerically(">=", 5))
		mainOperator.kill(syscall.SIGKILL)
		uidsAtKill := jwtSecretUIDs(ns)
		readyAtKill := countReady(ns, n)
		_, _ = fmt.Fprintf(GinkgoWriter, "at kill: %d JWT Secrets, %d of %d Ready\n", len(uidsAtKill), readyAtKill, n)
		Expect(readyAtKill).To(BeNumerically("<", n), "the operator had finished before it was killed")

		By("restarting it; every UserService becomes Ready")
		mainOperator = startOperator(e, logDir,
			operatorOptions{name: "operator-after-kill9", leaderElect: true, kubeconfig: opKubecfg})
		Eventually(func() int { return countReady(ns, n) }).WithTimeout(5*time.Minute).Should(Equal(n),
			"not every UserService became Ready; operator log:\n%s", mainOperator.logTail())

		By("checking that no child was lost or duplicated")
		expectOneChildEach(ns, n)
		after := jwtSecretUIDs(ns)
		for name, uid := range uidsAtKill {
			Expect(after[name]).To(Equal(uid), "JWT Secret %s was regenerated", name)
		}
	})

	It("reconnects and converges after kube-apiserver restarts", func() {
		ns := newNamespace("apiserver-restart")
		createUserService(ns, "before", 1)
		waitReady(ns, "before")

		By("running the operator without leader election, so only reconnection keeps it working")
		mainOperator.stop()
		op := startOperator(e, logDir, operatorOptions{name: "operator-no-le", kubeconfig: opKubecfg})

		By("restarting kube-apiserver")
		_, err := e.localCluster("restart", "kube-apiserver")
		Expect(err).NotTo(HaveOccurred())

		setImage(ns, "before", imageV2)
		createUserService(ns, "after", 1)
		waitReady(ns, "before")
		waitReady(ns, "after")
		Expect(op.exited()).To(BeFalse(), "the operator exited after the restart:\n%s", op.logTail())
		Expect(templateImageOf(ns, "before")).To(Equal(imageV2))

		op.stop()
		mainOperator = startOperator(e, logDir,
			operatorOptions{name: "operator-after-restart", leaderElect: true, kubeconfig: opKubecfg})
		Eventually(mainOperator.acquiredLease).Should(BeTrue())
	})

	It("hands over to the second replica, which takes the Lease and reconciles within 30 s "+
		"of the leader's death", func() {
		Eventually(mainOperator.acquiredLease).Should(BeTrue())
		standby := startOperator(e, logDir,
			operatorOptions{name: "operator-standby", leaderElect: true, kubeconfig: opKubecfg})
		Consistently(standby.acquiredLease).WithTimeout(3*time.Second).Should(BeFalse(), "two leaders")
		// Poll: the first request after the kube-apiserver restart spec may fail.
		var oldHolder string
		Eventually(func() string { oldHolder = leaseHolder(); return oldHolder }).ShouldNot(BeEmpty())
		ns := newNamespace("leader")

		By("killing the leader")
		mainOperator.kill(syscall.SIGKILL)
		killedAt := time.Now()
		createUserService(ns, "users", 1)

		Eventually(leaseHolder).WithTimeout(30*time.Second-time.Since(killedAt)).
			ShouldNot(Equal(oldHolder), "the standby did not take the Lease within 30 s")
		Eventually(func() []batchv1.Job { return migrationJobs(ns, "users") }).
			WithTimeout(30*time.Second-time.Since(killedAt)).ShouldNot(BeEmpty(),
			"the standby did not reconcile within 30 s of the leader's death; log:\n%s", standby.logTail())
		Expect(standby.acquiredLease()).To(BeTrue())
		_, _ = fmt.Fprintf(GinkgoWriter, "standby reconciled %.1fs after the leader was killed\n",
			time.Since(killedAt).Seconds())
		waitReady(ns, "users")
		mainOperator = standby
	})
})

// jwtSecretUIDs maps the generated JWT Secrets in ns to their UIDs.
func jwtSecretUIDs(ns string) map[string]types.UID {
	var list corev1.SecretList
	Expect(k8s.List(ctx(), &list, client.InNamespace(ns),
		client.MatchingLabels{"app.kubernetes.io/managed-by": "userservice-operator"})).To(Succeed())
	out := map[string]types.UID{}
	for _, s := range list.Items {
		if _, ok := s.Data["jwt-secret"]; ok {
			out[s.Name] = s.UID
		}
	}
	return out
}

// countReady counts the UserServices u00..u<n-1> in ns that are Ready.
func countReady(ns string, n int) int {
	c := 0
	for i := range n {
		if ready(ns, fmt.Sprintf("u%02d", i))() == nil {
			c++
		}
	}
	return c
}

// expectOneChildEach checks that each of the n UserServices has exactly one
// Deployment, Service, JWT Secret and migration Job.
func expectOneChildEach(ns string, n int) {
	for i := range n {
		name := fmt.Sprintf("u%02d", i)
		opts := byInstance(ns, name)
		var d appsv1.DeploymentList
		var s corev1.ServiceList
		var j batchv1.JobList
		Expect(k8s.List(ctx(), &d, opts...)).To(Succeed())
		Expect(k8s.List(ctx(), &s, opts...)).To(Succeed())
		Expect(k8s.List(ctx(), &j, opts...)).To(Succeed())
		Expect(d.Items).To(HaveLen(1), "Deployments of %s", name)
		Expect(s.Items).To(HaveLen(1), "Services of %s", name)
		Expect(j.Items).To(HaveLen(1), "migration Jobs of %s", name)
	}
	Expect(jwtSecretUIDs(ns)).To(HaveLen(n))
}
