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
	"strings"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2" //nolint:revive // Ginkgo's DSL is meant to be dot-imported.
	. "github.com/onsi/gomega"    //nolint:revive // Gomega's DSL is meant to be dot-imported.
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

var _ = Describe("UserService on a local cluster", func() {
	It("becomes Ready, and kubectl wait sees it", func() {
		ns := newNamespace("lifecycle")
		createUserService(ns, "users", 2)
		_, err := e.kubectl("-n", ns, "wait", "--for=condition=Ready", "usvc/users", "--timeout=180s")
		Expect(err).NotTo(HaveOccurred())
		Expect(ready(ns, "users")()).To(Succeed())

		d, err := deployment(ns, "users")
		Expect(err).NotTo(HaveOccurred())
		Expect(d.Status.ReadyReplicas).To(BeEquivalentTo(2))
		Expect(templateImage(d)).To(Equal(imageV1))
		Expect(k8s.Get(ctx(), client.ObjectKey{Namespace: ns, Name: "users"}, &corev1.Service{})).To(Succeed())
		Expect(k8s.Get(ctx(), client.ObjectKey{Namespace: ns, Name: "users-jwt"}, &corev1.Secret{})).To(Succeed())
		job := jobFor(ns, imageV1)
		Expect(job).NotTo(BeNil(), "no migration Job runs %s", imageV1)
		Expect(jobSucceeded(job)).To(BeTrue())
	})

	It("upgrades through a new migration Job, then a rolling update that keeps the old pods "+
		"until new ones are ready", func() {
		ns := newNamespace("upgrade")
		createUserService(ns, "users", 2)
		waitReady(ns, "users")
		oldJob := jobFor(ns, imageV1)
		Expect(oldJob).NotTo(BeNil())

		rec := watchRollout(ns, "users", 2)
		setImage(ns, "users", imageV2)
		waitReady(ns, "users")

		newJob := jobFor(ns, imageV2)
		Expect(newJob).NotTo(BeNil(), "no new migration Job for %s", imageV2)
		Expect(newJob.Name).NotTo(Equal(oldJob.Name))
		Expect(jobSucceeded(newJob)).To(BeTrue())

		var newRS *appsv1.ReplicaSet
		Eventually(func(g Gomega) {
			for _, rs := range replicaSets(ns, "users") {
				if rs.Spec.Template.Spec.Containers[0].Image == imageV2 {
					newRS = &rs
				} else {
					g.Expect(*rs.Spec.Replicas).To(BeZero(), "old ReplicaSet %s not scaled down", rs.Name)
				}
			}
			g.Expect(newRS).NotTo(BeNil())
		}).Should(Succeed())
		rec.stop()
		Expect(newRS.CreationTimestamp.Time).NotTo(BeTemporally("<", newJob.Status.CompletionTime.Time),
			"the new ReplicaSet was created before the migration Job completed")
		Expect(rec.violations()).To(BeEmpty())
		Expect(rec.samples()).To(BeNumerically(">", 3), "the rollout was not observed")
	})

	It("keeps the old pods serving when a migration fails, reports MigrationFailed, "+
		"and recovers with a fixed image", func() {
		ns := newNamespace("failed-migration")
		createUserService(ns, "users", 2, noMigrationRetries)
		waitReady(ns, "users")

		setImage(ns, "users", imageFail)
		Eventually(conditionIs(ns, "users", "Degraded", metav1.ConditionTrue, "MigrationFailed")).Should(Succeed())
		Expect(conditionIs(ns, "users", "Ready", metav1.ConditionFalse, "")()).To(Succeed())
		d, err := deployment(ns, "users")
		Expect(err).NotTo(HaveOccurred())
		Expect(templateImage(d)).To(Equal(imageV1), "the Deployment moved to the image whose migration failed")
		Expect(d.Status.ReadyReplicas).To(BeEquivalentTo(2), "the old pods stopped serving")
		Consistently(func(g Gomega) {
			d, err := deployment(ns, "users")
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(templateImage(d)).To(Equal(imageV1))
			g.Expect(d.Status.AvailableReplicas).To(BeEquivalentTo(2))
		}).WithTimeout(5 * time.Second).Should(Succeed())

		setImage(ns, "users", imageV2)
		waitReady(ns, "users")
		Expect(conditionIs(ns, "users", "Degraded", metav1.ConditionFalse, "")()).To(Succeed())
		d, err = deployment(ns, "users")
		Expect(err).NotTo(HaveOccurred())
		Expect(templateImage(d)).To(Equal(imageV2))
	})

	It("garbage-collects every child when the UserService is deleted", func() {
		ns := newNamespace("deletion")
		createUserService(ns, "users", 2)
		waitReady(ns, "users")
		u, err := getUserService(ns, "users")
		Expect(err).NotTo(HaveOccurred())
		Expect(k8s.Delete(ctx(), u)).To(Succeed())

		Eventually(func(g Gomega) {
			g.Expect(childNames(ns, "users")).To(BeEmpty())
		}).Should(Succeed())
	})

	It("rolls the pods when the database Secret changes", func() {
		ns := newNamespace("rotation")
		createUserService(ns, "users", 2)
		waitReady(ns, "users")
		before := podNames(ns, "users")

		setDBSecret(ns, "postgres://users:pw-2@postgres:5432/users?sslmode=disable")
		expectRolled(ns, "users", before)
	})

	It("recreates a child deleted by hand", func() {
		ns := newNamespace("drift")
		createUserService(ns, "users", 2)
		waitReady(ns, "users")
		for _, obj := range []client.Object{&appsv1.Deployment{}, &corev1.Service{}} {
			key := client.ObjectKey{Namespace: ns, Name: "users"}
			Expect(k8s.Get(ctx(), key, obj)).To(Succeed())
			oldUID := obj.GetUID()
			Expect(k8s.Delete(ctx(), obj)).To(Succeed())
			Eventually(func(g Gomega) {
				g.Expect(k8s.Get(ctx(), key, obj)).To(Succeed())
				g.Expect(obj.GetUID()).NotTo(Equal(oldUID))
			}).Should(Succeed(), "%T %s was not recreated", obj, key)
		}
		waitReady(ns, "users")
	})

	It("admits every pod it creates in a namespace that enforces restricted Pod Security", func() {
		ns := newNamespace("restricted")
		createUserService(ns, "users", 2)
		waitReady(ns, "users")
		var jobPods, deployPods int
		for _, p := range podsOf(ns, "users") {
			if p.Labels["job-name"] != "" || p.Labels["batch.kubernetes.io/job-name"] != "" {
				jobPods++
			} else {
				deployPods++
			}
		}
		Expect(jobPods).To(BeNumerically(">=", 1), "no migration pod was admitted")
		Expect(deployPods).To(Equal(2))
		var events corev1.EventList
		Expect(k8s.List(ctx(), &events, client.InNamespace(ns))).To(Succeed())
		for _, ev := range events.Items {
			Expect(ev.Message).NotTo(ContainSubstring("violates PodSecurity"), "event %s/%s",
				ev.InvolvedObject.Kind, ev.InvolvedObject.Name)
		}
	})
})

// expectRolled waits until a Secret change has rolled the 2 pods of
// UserService name: a new ReplicaSet, Ready again, and none of the pods
// in before left.
func expectRolled(ns, name string, before []string) {
	Eventually(func(g Gomega) {
		g.Expect(replicaSets(ns, name)).To(HaveLen(2), "no new ReplicaSet after the Secret changed")
	}).Should(Succeed())
	waitReady(ns, name)
	Eventually(func(g Gomega) {
		after := podNames(ns, name)
		g.Expect(after).To(HaveLen(2))
		for _, p := range after {
			g.Expect(before).NotTo(ContainElement(p), "pod %s survived the rotation", p)
		}
	}).Should(Succeed())
}

// childNames lists the names of every remaining child of UserService name,
// prefixed with their kind.
func childNames(ns, name string) []string {
	var out []string
	lists := map[string]client.ObjectList{
		"Deployment": &appsv1.DeploymentList{}, "ReplicaSet": &appsv1.ReplicaSetList{},
		"Service": &corev1.ServiceList{}, "Pod": &corev1.PodList{},
	}
	for kind, l := range lists {
		Expect(k8s.List(ctx(), l, byInstance(ns, name)...)).To(Succeed())
		for _, o := range objectNames(l) {
			out = append(out, kind+"/"+o)
		}
	}
	for _, j := range migrationJobs(ns, name) {
		out = append(out, "Job/"+j.Name)
	}
	for _, s := range []string{name + "-jwt"} {
		err := k8s.Get(ctx(), client.ObjectKey{Namespace: ns, Name: s}, &corev1.Secret{})
		if !apierrors.IsNotFound(err) {
			out = append(out, "Secret/"+s)
		}
	}
	return out
}

// objectNames returns the names in a typed list.
func objectNames(l client.ObjectList) []string {
	var out []string
	switch t := l.(type) {
	case *appsv1.DeploymentList:
		for _, o := range t.Items {
			out = append(out, o.Name)
		}
	case *appsv1.ReplicaSetList:
		for _, o := range t.Items {
			out = append(out, o.Name)
		}
	case *corev1.ServiceList:
		for _, o := range t.Items {
			out = append(out, o.Name)
		}
	case *corev1.PodList:
		for _, o := range t.Items {
			out = append(out, o.Name)
		}
	}
	return out
}

// replicaSets lists the ReplicaSets of the UserService's Deployment.
func replicaSets(ns, name string) []appsv1.ReplicaSet {
	var rs appsv1.ReplicaSetList
	Expect(k8s.List(ctx(), &rs, byInstance(ns, name)...)).To(Succeed())
	return rs.Items
}

// podsOf lists the UserService's pods (Deployment and Job pods).
func podsOf(ns, name string) []corev1.Pod {
	var pods corev1.PodList
	Expect(k8s.List(ctx(), &pods, byInstance(ns, name)...)).To(Succeed())
	return pods.Items
}

// jobSucceeded reports whether the Job has its Complete condition.
func jobSucceeded(j *batchv1.Job) bool {
	for _, c := range j.Status.Conditions {
		if c.Type == batchv1.JobComplete && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

// podNames lists the names of the Deployment's running pods.
func podNames(ns, name string) []string {
	var out []string
	for _, p := range podsOf(ns, name) {
		if p.DeletionTimestamp == nil && p.Status.Phase == corev1.PodRunning && !strings.Contains(p.Name, "-migrate-") {
			out = append(out, p.Name)
		}
	}
	return out
}

// rolloutRecorder samples a Deployment's ReplicaSets during a rollout and
// records every moment when fewer than the desired replicas were available,
// or when the old ReplicaSet shrank before a new pod was ready.
type rolloutRecorder struct {
	mu     sync.Mutex
	bad    []string
	n      int
	quit   chan struct{}
	doneCh chan struct{}
}

// watchRollout starts sampling the ReplicaSets of UserService name.
func watchRollout(ns, name string, desired int32) *rolloutRecorder {
	r := &rolloutRecorder{quit: make(chan struct{}), doneCh: make(chan struct{})}
	oldImage := templateImageOf(ns, name)
	go func() {
		defer GinkgoRecover()
		defer close(r.doneCh)
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-r.quit:
				return
			case <-t.C:
				r.sample(ns, name, oldImage, desired)
			}
		}
	}()
	return r
}

// templateImageOf returns the Deployment's current template image.
func templateImageOf(ns, name string) string {
	d, err := deployment(ns, name)
	Expect(err).NotTo(HaveOccurred())
	return templateImage(d)
}

// sample checks one snapshot of the ReplicaSets.
func (r *rolloutRecorder) sample(ns, name, oldImage string, desired int32) {
	var list appsv1.ReplicaSetList
	if err := k8s.List(ctx(), &list, byInstance(ns, name)...); err != nil {
		return
	}
	var oldSpec, oldReady, newReady int32
	for _, rs := range list.Items {
		if rs.Spec.Template.Spec.Containers[0].Image == oldImage {
			oldSpec += *rs.Spec.Replicas
			oldReady += rs.Status.ReadyReplicas
		} else {
			newReady += rs.Status.ReadyReplicas
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.n++
	if oldReady+newReady < desired {
		r.bad = append(r.bad, fmt.Sprintf("only %d old + %d new ready pods, want %d", oldReady, newReady, desired))
	}
	if oldSpec < desired && newReady == 0 {
		r.bad = append(r.bad, fmt.Sprintf("old ReplicaSet scaled to %d before any new pod was ready", oldSpec))
	}
}

// stop ends the sampling.
func (r *rolloutRecorder) stop() {
	close(r.quit)
	<-r.doneCh
}

// violations returns what went wrong during the rollout.
func (r *rolloutRecorder) violations() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.bad
}

// samples returns how many snapshots were taken.
func (r *rolloutRecorder) samples() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n
}
