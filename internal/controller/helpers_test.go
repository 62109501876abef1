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
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	appsv1alpha1 "github.com/userservice-dev/userservice-operator/api/v1alpha1"
	"github.com/userservice-dev/userservice-operator/internal/resources"
)

// newNamespace creates a namespace that enforces the restricted Pod Security
// Standard and deletes it after the spec.
func newNamespace() string {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		GenerateName: "us-test-",
		Labels:       map[string]string{"pod-security.kubernetes.io/enforce": "restricted"},
	}}
	Expect(k8sClient.Create(ctx, ns)).To(Succeed())
	DeferCleanup(func() { Expect(client.IgnoreNotFound(k8sClient.Delete(ctx, ns))).To(Succeed()) })
	return ns.Name
}

// createSecret creates a user-owned Secret with one key.
func createSecret(ns, name, key, value string) *corev1.Secret {
	s := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Data:       map[string][]byte{key: []byte(value)},
	}
	Expect(k8sClient.Create(ctx, s)).To(Succeed())
	return s
}

// createUserService creates a UserService named users whose database Secret is db/url, changed by mutate.
func createUserService(ns string, mutate func(*appsv1alpha1.UserService)) *appsv1alpha1.UserService {
	us := &appsv1alpha1.UserService{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "users"},
		Spec: appsv1alpha1.UserServiceSpec{
			Image:    "ghcr.io/userservice-dev/user-service:v1",
			Database: appsv1alpha1.DatabaseSpec{URLSecretRef: appsv1alpha1.DatabaseURLSecretRef{Name: "db"}},
		},
	}
	if mutate != nil {
		mutate(us)
	}
	Expect(k8sClient.Create(ctx, us)).To(Succeed())
	return us
}

// getUS returns the current UserService.
func getUS(ns string) *appsv1alpha1.UserService {
	us := &appsv1alpha1.UserService{}
	ExpectWithOffset(1, k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "users"}, us)).To(Succeed())
	return us
}

// updateUS changes the UserService's spec, retrying on conflicts.
func updateUS(ns string, mutate func(*appsv1alpha1.UserService)) {
	Eventually(func() error {
		us := getUS(ns)
		mutate(us)
		return k8sClient.Update(ctx, us)
	}).Should(Succeed())
}

// condition returns one condition of the UserService, or an empty one.
func condition(ns, typ string) metav1.Condition {
	if c := meta.FindStatusCondition(getUS(ns).Status.Conditions, typ); c != nil {
		return *c
	}
	return metav1.Condition{}
}

// haveCondition matches a condition with the given status and reason.
func haveCondition(status metav1.ConditionStatus, reason string) OmegaMatcher {
	return And(HaveField("Status", status), HaveField("Reason", reason))
}

// getObj reads an object by namespace and name, and returns the error.
func getObj(ns, name string, obj client.Object) error {
	return k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, obj)
}

// deploymentImage returns the image of the Deployment's template, "" when it does not exist.
func deploymentImageOf(ns string) string {
	d := &appsv1.Deployment{}
	if err := getObj(ns, "users", d); err != nil {
		return ""
	}
	return d.Spec.Template.Spec.Containers[0].Image
}

// migrationJob waits for the migration Job of image and returns it.
func migrationJob(ns, image string) *batchv1.Job {
	name := resources.MigrationJobName(getUS(ns), image)
	job := &batchv1.Job{}
	EventuallyWithOffset(1, func() error { return getObj(ns, name, job) }).Should(Succeed())
	return job
}

// finishJob sets a Job's status as the Job controller would on success or failure.
func finishJob(job *batchv1.Job, succeeded bool) {
	now := metav1.Now()
	job.Status.StartTime = &now
	if succeeded {
		job.Status.Succeeded = 1
		job.Status.CompletionTime = &now
		job.Status.Conditions = []batchv1.JobCondition{
			{Type: batchv1.JobSuccessCriteriaMet, Status: corev1.ConditionTrue, LastTransitionTime: now},
			{Type: batchv1.JobComplete, Status: corev1.ConditionTrue, LastTransitionTime: now},
		}
	} else {
		job.Status.Failed = 4
		job.Status.Conditions = []batchv1.JobCondition{
			{Type: batchv1.JobFailureTarget, Status: corev1.ConditionTrue, Reason: "BackoffLimitExceeded", LastTransitionTime: now},
			{Type: batchv1.JobFailed, Status: corev1.ConditionTrue, Reason: "BackoffLimitExceeded",
				Message: "Job has reached the specified backoff limit", LastTransitionTime: now},
		}
	}
	ExpectWithOffset(1, k8sClient.Status().Update(ctx, job)).To(Succeed())
}

// succeedMigration waits for the migration Job of image and marks it succeeded.
func succeedMigration(ns, image string) {
	finishJob(migrationJob(ns, image), true)
}

// rollOutDeployment plays the Deployment controller: it marks the current
// template as fully rolled out and available.
func rollOutDeployment(ns string) {
	EventuallyWithOffset(1, func() error {
		d := &appsv1.Deployment{}
		if err := getObj(ns, "users", d); err != nil {
			return err
		}
		n := ptr.Deref(d.Spec.Replicas, 1)
		d.Status = appsv1.DeploymentStatus{
			ObservedGeneration: d.Generation, Replicas: n, UpdatedReplicas: n, ReadyReplicas: n, AvailableReplicas: n,
			Conditions: []appsv1.DeploymentCondition{{
				Type: appsv1.DeploymentAvailable, Status: corev1.ConditionTrue, Reason: "MinimumReplicasAvailable",
				LastUpdateTime: metav1.Now(), LastTransitionTime: metav1.Now(),
			}},
		}
		return k8sClient.Status().Update(ctx, d)
	}).Should(Succeed())
}

// readyWith drives a new UserService to Ready with image: it creates the
// database Secret, succeeds the migration and rolls the Deployment out.
func readyWith(ns string, mutate func(*appsv1alpha1.UserService)) {
	createSecret(ns, "db", "url", "postgres://u:p@db:5432/users")
	us := createUserService(ns, mutate)
	if resources.MigrationsEnabled(us) {
		succeedMigration(ns, us.Spec.Image)
	}
	Eventually(func() string { return deploymentImageOf(ns) }).Should(Equal(us.Spec.Image))
	rollOutDeployment(ns)
	Eventually(func() metav1.Condition { return condition(ns, "Ready") }).
		Should(haveCondition(metav1.ConditionTrue, ReasonRolloutComplete))
}

// eventReasons lists the reasons of the events regarding the UserService.
func eventReasons(ns string) []string {
	var list eventsv1.EventList
	Expect(k8sClient.List(ctx, &list, client.InNamespace(ns))).To(Succeed())
	var reasons []string
	for _, e := range list.Items {
		if e.Regarding.Kind == "UserService" {
			reasons = append(reasons, e.Reason)
		}
	}
	return reasons
}

// eventOccurrences counts the occurrences of the events with reason regarding
// the UserService, including the repeats the recorder folds into a series.
func eventOccurrences(ns, reason string) int {
	var list eventsv1.EventList
	Expect(k8sClient.List(ctx, &list, client.InNamespace(ns))).To(Succeed())
	n := 0
	for _, e := range list.Items {
		if e.Regarding.Kind == "UserService" && e.Reason == reason {
			n += max(1, int(ptr.Deref(e.Series, eventsv1.EventSeries{}).Count))
		}
	}
	return n
}

// describe renders an object's kind and name for failure messages.
func describe(obj client.Object) string {
	return fmt.Sprintf("%T %s", obj, obj.GetName())
}

// countingReconciler returns a copy of the suite's reconciler whose client
// and event recorder send their requests through a transport that counts the
// writes: every request but a GET (a read, list or watch), Events included.
// Its client reads from the manager's cache, as the reconciler's does.
func countingReconciler() (*UserServiceReconciler, *atomic.Int64) {
	writes := &atomic.Int64{}
	counted := rest.CopyConfig(cfg)
	counted.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return roundTripperFunc(func(req *http.Request) (*http.Response, error) {
			if req.Method != http.MethodGet {
				writes.Add(1)
			}
			return rt.RoundTrip(req)
		})
	})
	c, err := client.New(counted, client.Options{Scheme: k8sClient.Scheme(), Cache: &client.CacheOptions{Reader: mgrCache}})
	Expect(err).NotTo(HaveOccurred())
	broadcaster := events.NewBroadcaster(&events.EventSinkImpl{Interface: kubernetes.NewForConfigOrDie(counted).EventsV1()})
	Expect(broadcaster.StartRecordingToSinkWithContext(ctx)).To(Succeed())
	DeferCleanup(broadcaster.Shutdown)
	r := *reconciler
	r.Client, r.Recorder = c, broadcaster.NewRecorder(k8sClient.Scheme(), resources.FieldOwner)
	return &r, writes
}

// roundTripperFunc is an http.RoundTripper made of a function.
type roundTripperFunc func(*http.Request) (*http.Response, error)

// RoundTrip calls f.
func (f roundTripperFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }

// reconcileTimes runs r's Reconcile n times for the UserService of ns and expects no error.
func reconcileTimes(r *UserServiceReconciler, ns string, n int) {
	for range n {
		_, err := r.Reconcile(ctx, reconcile.Request{NamespacedName: client.ObjectKey{Namespace: ns, Name: "users"}})
		ExpectWithOffset(1, err).NotTo(HaveOccurred())
	}
}

// expectNoWrites checks that writes stays at zero for a second, as the
// recorder sends Events in the background.
func expectNoWrites(writes *atomic.Int64, why string) {
	ConsistentlyWithOffset(1, writes.Load, time.Second).Should(BeZero(), why)
}
