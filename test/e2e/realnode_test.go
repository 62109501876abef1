//go:build e2e && realnode

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
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2" //nolint:revive // Ginkgo's DSL is meant to be dot-imported.
	. "github.com/onsi/gomega"    //nolint:revive // Gomega's DSL is meant to be dot-imported.
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// The scenarios of the real node run in order on one UserService ("users",
// 2 replicas, NodePort), except the failed migration and the operator
// hand-over, which get their own; each namespace enforces the restricted Pod
// Security level and has its own PostgreSQL database and role.
var _ = Describe("A real node", Ordered, Serial, func() {
	var (
		ns, base, token string
		db              *database
		v1Schema        int64
	)

	BeforeAll(func() {
		ns = newNamespace("serve")
		db = newDatabase(ns)
		setDBSecret(ns, db.url())
		createUserService(ns, "users", 2, nodePort, fixedPool)
	})

	It("installs and serves: the Job migrates PostgreSQL, restricted pods run as 65532 on a read-only root, "+
		"a POST is read back through the NodePort", func() {
		waitReady(ns, "users")
		v1Schema = db.schemaVersion()
		Expect(v1Schema).To(BeNumerically(">=", 1), "goose_db_version after the first migration Job")
		for _, p := range serverPods(ns, "users") {
			uid, rootOptions := containerIdentity(p)
			Expect(uid).To(Equal("65532"), "uid of pod %s's process", p.Name)
			Expect(strings.Split(rootOptions, ",")).To(ContainElement("ro"), "root filesystem of pod %s", p.Name)
		}
		base, token = serviceURL(ns, "users"), jwtFor(ns, "users")
		c := newLoadGen("serve", base, token)
		status, body, err := c.send("POST", "/api/v1/users", []byte(`{"name":"Ada","email":"ada@example.com"}`))
		Expect(err).NotTo(HaveOccurred())
		Expect(status).To(Equal(http.StatusCreated), "POST: %s", body)
		var created struct{ ID int64 }
		Expect(json.Unmarshal(body, &created)).To(Succeed())
		status, body, err = c.send("GET", fmt.Sprintf("/api/v1/users/%d", created.ID), nil)
		Expect(err).NotTo(HaveOccurred())
		Expect(status).To(Equal(http.StatusOK))
		Expect(string(body)).To(ContainSubstring("ada@example.com"))
	})

	It("upgrades v1 to v2 (one more migration) under load with no failed request", func() {
		g := startLoad("upgrade", base, token)
		time.Sleep(3 * time.Second)
		setImage(ns, "users", imageV2)
		waitRolledOut(ns, "users", imageV2)
		expectNoFailure("upgrade", g)
		Expect(db.schemaVersion()).To(Equal(v1Schema+1), "goose_db_version after v2's migration Job")
	})

	It("keeps the old pods serving with no failed request when a migration fails, keeps the Job with its error, "+
		"and recovers with a good image", func() {
		ns2 := newNamespace("failed-migration")
		db2 := newDatabase(ns2)
		setDBSecret(ns2, db2.url())
		createUserService(ns2, "users", 2, nodePort, noMigrationRetries)
		waitReady(ns2, "users")
		g := startLoad("failed-migration", serviceURL(ns2, "users"), jwtFor(ns2, "users"))

		setImage(ns2, "users", imageFail)
		Eventually(conditionIs(ns2, "users", "Degraded", metav1.ConditionTrue, "MigrationFailed")).Should(Succeed())
		job := jobFor(ns2, imageFail)
		Expect(job).NotTo(BeNil(), "the failed migration Job was not kept")
		logs, err := e.kubectl("-n", ns2, "logs", "job/"+job.Name)
		Expect(err).NotTo(HaveOccurred())
		Expect(logs).To(ContainSubstring(`relation "user_profiles" does not exist`), "kubectl logs job/%s", job.Name)
		Consistently(func(g Gomega) {
			d, err := deployment(ns2, "users")
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(templateImage(d)).To(Equal(imageV1))
			g.Expect(d.Status.AvailableReplicas).To(BeEquivalentTo(2))
		}).WithTimeout(5 * time.Second).Should(Succeed())

		setImage(ns2, "users", imageV2)
		waitRolledOut(ns2, "users", imageV2)
		Expect(conditionIs(ns2, "users", "Degraded", metav1.ConditionFalse, "")()).To(Succeed())
		expectNoFailure("failed_migration", g)
	})

	It("replaces a deleted pod with no failed request, and kill -9 loses at most the requests in flight", func() {
		g := startLoad("pod-delete", base, token)
		time.Sleep(3 * time.Second)
		victim := readyPod(ns, "users")
		Expect(k8s.Delete(ctx(), &victim)).To(Succeed())
		Eventually(func(g Gomega) {
			err := k8s.Get(ctx(), client.ObjectKeyFromObject(&victim), &corev1.Pod{})
			g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "pod %s still exists", victim.Name)
			g.Expect(readyPods(ns, "users")).To(Equal(2))
		}).Should(Succeed())
		expectNoFailure("pod_delete", g)

		g = startLoad("kill9", base, token)
		time.Sleep(3 * time.Second)
		victim = readyPod(ns, "users")
		restarts := victim.Status.ContainerStatuses[0].RestartCount
		pid := containerPID(victim)
		Expect(syscall.Kill(pid, syscall.SIGKILL)).To(Succeed())
		Eventually(func(g Gomega) {
			var p corev1.Pod
			g.Expect(k8s.Get(ctx(), client.ObjectKeyFromObject(&victim), &p)).To(Succeed())
			g.Expect(p.Status.ContainerStatuses[0].RestartCount).To(BeNumerically(">", restarts))
			g.Expect(readyPods(ns, "users")).To(Equal(2))
		}).Should(Succeed())
		time.Sleep(2 * time.Second)
		r := g.stop()
		figure("kill9_failed_requests=%d of %d (requests in flight on the killed process's connections: %d)",
			r.failed, r.total, r.brokenUnderRequest)
		_, _ = fmt.Fprintln(GinkgoWriter, strings.Join(r.errors, "\n"))
		Expect(r.failed).To(BeNumerically("<=", r.brokenUnderRequest), "%s", strings.Join(r.errors, "\n"))
		Expect(unreadable(g, r)).To(BeEmpty(), "acknowledged POSTs that cannot be read back")
	})

	It("rotates the database password in PostgreSQL and in the Secret with no failed request", func() {
		old := serverPods(ns, "users")
		g := startLoad("rotation", base, token)
		time.Sleep(3 * time.Second)
		db.setPassword(randomHex(16))
		setDBSecret(ns, db.url())
		Eventually(func(g Gomega) {
			for _, p := range old {
				err := k8s.Get(ctx(), client.ObjectKeyFromObject(&p), &corev1.Pod{})
				g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "pod %s survived the rotation", p.Name)
			}
			g.Expect(ready(ns, "users")()).To(Succeed())
		}).Should(Succeed())
		expectNoFailure("rotation", g)
	})

	It("hands over to the second operator pod, which takes the Lease and reconciles a new UserService within 30 s",
		func() {
			holder := leaseHolder()
			leader, _, _ := strings.Cut(holder, "_")
			var standby string
			for _, p := range operatorPods() {
				if p.Name != leader {
					standby = p.Name
				}
			}
			Expect(standby).NotTo(BeEmpty(), "no second operator pod besides the leader %s", leader)
			ns3 := newNamespace("leader")
			db3 := newDatabase(ns3)
			setDBSecret(ns3, db3.url())

			followLogs(operatorNamespace, leader)
			// The Deployment replaces the deleted pod at once, and its new pod
			// would race the standby for the released Lease. Cordoning the
			// node keeps the replacement Pending, so the Lease can only go to
			// the standby, the pod a failover relies on.
			setUnschedulable(true)
			DeferCleanup(setUnschedulable, false)
			By("deleting the leader pod " + leader)
			leaderPod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: operatorNamespace, Name: leader}}
			Expect(k8s.Delete(ctx(), leaderPod)).To(Succeed())
			deletedAt := time.Now()
			createUserService(ns3, "users", 1)
			Eventually(leaseHolder).WithTimeout(30*time.Second-time.Since(deletedAt)).
				Should(HavePrefix(standby+"_"), "the standby %s did not take the Lease within 30 s", standby)
			Eventually(func() int { return len(migrationJobs(ns3, "users")) }).
				WithTimeout(30*time.Second-time.Since(deletedAt)).Should(BeNumerically(">", 0),
				"the standby did not reconcile the new UserService within 30 s")
			figure("operator_failover_seconds=%.1f", time.Since(deletedAt).Seconds())
			setUnschedulable(false)
			waitReady(ns3, "users")
		})

	It("ran every pod, the operator's included, in namespaces that enforce the restricted Pod Security level", func() {
		var pods corev1.PodList
		Expect(k8s.List(ctx(), &pods)).To(Succeed())
		perNS := map[string]int{}
		for _, p := range pods.Items {
			perNS[p.Namespace]++
		}
		Expect(perNS[operatorNamespace]).To(BeNumerically(">=", 2))
		for name := range perNS {
			var n corev1.Namespace
			Expect(k8s.Get(ctx(), client.ObjectKey{Name: name}, &n)).To(Succeed())
			Expect(n.Labels).To(HaveKeyWithValue("pod-security.kubernetes.io/enforce", "restricted"), "namespace %s", name)
		}
		By("checking that admission enforces it: a root pod is refused")
		bad := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "root"},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: imageV1}}}}
		err := k8s.Create(ctx(), bad, client.DryRunAll)
		Expect(err).To(HaveOccurred())
		Expect(err.Error()).To(ContainSubstring("violates PodSecurity"))
	})
})

// nodePort makes the UserService's Service a NodePort, which kube-proxy
// serves on 127.0.0.1.
func nodePort(spec map[string]any) {
	spec["service"] = map[string]any{"type": "NodePort"}
}

// fixedPool sizes every pod's connection pool at 4 connections, all opened
// at start (DB_MIN_CONNS = DB_MAX_CONNS): during a password rotation the old
// pods then never open a connection with the old password; they serve from
// the sessions they have until the new pods replace them.
func fixedPool(spec map[string]any) {
	spec["env"] = []any{
		map[string]any{"name": "DB_MIN_CONNS", "value": "4"},
		map[string]any{"name": "DB_MAX_CONNS", "value": "4"},
	}
}

// expectNoFailure stops the request loop g, prints its figure, and checks
// that no request failed and that every acknowledged POST can be read back.
func expectNoFailure(name string, g *loadGen) {
	GinkgoHelper()
	time.Sleep(2 * time.Second) // keep the load on while the last pods go
	r := g.stop()
	figure("%s_failed_requests=%d of %d", name, r.failed, r.total)
	if r.dialRetries > 0 {
		figure("%s_dial_retries=%d", name, r.dialRetries)
	}
	Expect(r.failed).To(BeZero(), "failed requests:\n%s", strings.Join(r.errors, "\n"))
	Expect(r.total).To(BeNumerically(">=", 100), "the load ran too briefly to prove anything")
	Expect(unreadable(g, r)).To(BeEmpty(), "acknowledged POSTs that cannot be read back")
}
