//go:build e2e

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
	"context"
	"fmt"

	. "github.com/onsi/ginkgo/v2" //nolint:revive // Ginkgo's DSL is meant to be dot-imported.
	. "github.com/onsi/gomega"    //nolint:revive // Gomega's DSL is meant to be dot-imported.
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

const (
	imageV1 = "ghcr.io/userservice-dev/user-service:v0.1.0"
	imageV2 = "ghcr.io/userservice-dev/user-service:v0.1.1"
	// imageFail's migration Job is failed by hack/kwok/stages/pod-fail-migration.yaml.
	imageFail = "ghcr.io/userservice-dev/user-service:v0.2.0-fail-migration"
	dbSecret  = "db"
)

// usvcGVK is the UserService kind; the suite uses unstructured objects so it
// drives the API exactly as kubectl users do.
var usvcGVK = schema.GroupVersionKind{Group: "apps.userservice.dev", Version: "v1alpha1", Kind: "UserService"}

// newNamespace creates a namespace that enforces the restricted Pod Security
// level and holds the database Secret, and deletes it after the spec.
func newNamespace(prefix string) string {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		GenerateName: prefix + "-",
		Labels:       map[string]string{"pod-security.kubernetes.io/enforce": "restricted"},
	}}
	Expect(k8s.Create(ctx(), ns)).To(Succeed())
	DeferCleanup(func() { Expect(client.IgnoreNotFound(k8s.Delete(ctx(), ns))).To(Succeed()) })
	setDBSecret(ns.Name, "postgres://users:pw-1@postgres:5432/users?sslmode=disable")
	return ns.Name
}

// ctx returns a context for one API call.
func ctx() context.Context { return context.Background() }

// setDBSecret creates or updates the database Secret in ns.
func setDBSecret(ns, url string) {
	setURLSecret(ns, dbSecret, url)
}

// setURLSecret creates or updates the Secret name in ns, with url under
// the key "url".
func setURLSecret(ns, name, url string) {
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}}
	err := k8s.Get(ctx(), client.ObjectKeyFromObject(s), s)
	if apierrors.IsNotFound(err) {
		s.StringData = map[string]string{"url": url}
		Expect(k8s.Create(ctx(), s)).To(Succeed())
		return
	}
	Expect(err).NotTo(HaveOccurred())
	s.Data = map[string][]byte{"url": []byte(url)}
	Expect(k8s.Update(ctx(), s)).To(Succeed())
}

// createUserService creates a UserService of imageV1, where every spec
// starts, with replicas; extra sets further spec fields.
func createUserService(ns, name string, replicas int64, extra ...func(spec map[string]any)) {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(usvcGVK)
	u.SetNamespace(ns)
	u.SetName(name)
	spec := map[string]any{
		"image":    imageV1,
		"replicas": replicas,
		"database": map[string]any{"urlSecretRef": map[string]any{"name": dbSecret, "key": "url"}},
	}
	for _, f := range extra {
		f(spec)
	}
	u.Object["spec"] = spec
	Expect(k8s.Create(ctx(), u)).To(Succeed())
}

// noMigrationRetries sets spec.migrations.backoffLimit to 0, so that a
// failing migration Job fails at its first pod instead of after backoffs.
func noMigrationRetries(spec map[string]any) {
	spec["migrations"] = map[string]any{"backoffLimit": int64(0)}
}

// getUserService reads a UserService.
func getUserService(ns, name string) (*unstructured.Unstructured, error) {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(usvcGVK)
	err := k8s.Get(ctx(), client.ObjectKey{Namespace: ns, Name: name}, u)
	return u, err
}

// setImage changes a UserService's spec.image.
func setImage(ns, name, image string) {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(usvcGVK)
	u.SetNamespace(ns)
	u.SetName(name)
	patch := client.RawPatch("application/merge-patch+json", fmt.Appendf(nil, `{"spec":{"image":%q}}`, image))
	Expect(k8s.Patch(ctx(), u, patch)).To(Succeed())
}

// condition returns the condition of type t from a UserService's status.
func condition(u *unstructured.Unstructured, t string) (metav1.Condition, bool) {
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conds {
		m, _ := c.(map[string]any)
		if m["type"] != t {
			continue
		}
		gen, _, _ := unstructured.NestedInt64(m, "observedGeneration")
		return metav1.Condition{
			Type: t, Status: metav1.ConditionStatus(fmt.Sprint(m["status"])),
			Reason: fmt.Sprint(m["reason"]), Message: fmt.Sprint(m["message"]), ObservedGeneration: gen,
		}, true
	}
	return metav1.Condition{}, false
}

// conditionIs returns a poll function that succeeds when the UserService's
// condition t has status and (when set) reason, at its current generation.
func conditionIs(ns, name, t string, status metav1.ConditionStatus, reason string) func() error {
	return func() error {
		u, err := getUserService(ns, name)
		if err != nil {
			return err
		}
		c, ok := condition(u, t)
		gen := u.GetGeneration()
		observed, _, _ := unstructured.NestedInt64(u.Object, "status", "observedGeneration")
		switch {
		case !ok:
			return fmt.Errorf("%s/%s has no %s condition yet", ns, name, t)
		case c.Status != status || (reason != "" && c.Reason != reason):
			return fmt.Errorf("%s/%s %s=%s reason %s (%s), want %s %s", ns, name, t, c.Status, c.Reason,
				c.Message, status, reason)
		case c.ObservedGeneration != gen || observed != gen:
			return fmt.Errorf("%s/%s %s observedGeneration %d/%d, generation %d", ns, name, t,
				c.ObservedGeneration, observed, gen)
		}
		return nil
	}
}

// ready returns a poll function that succeeds when the UserService is Ready.
func ready(ns, name string) func() error {
	return conditionIs(ns, name, "Ready", metav1.ConditionTrue, "")
}

// deployment reads the UserService's Deployment.
func deployment(ns, name string) (*appsv1.Deployment, error) {
	d := &appsv1.Deployment{}
	return d, k8s.Get(ctx(), client.ObjectKey{Namespace: ns, Name: name}, d)
}

// byInstance selects the children of UserService name.
func byInstance(ns, name string) []client.ListOption {
	return []client.ListOption{client.InNamespace(ns), client.MatchingLabels{"app.kubernetes.io/instance": name}}
}

// migrationJobs lists the UserService's migration Jobs.
func migrationJobs(ns, name string) []batchv1.Job {
	var jobs batchv1.JobList
	Expect(k8s.List(ctx(), &jobs, byInstance(ns, name)...)).To(Succeed())
	return jobs.Items
}

// jobFor returns the migration Job in ns that runs image, if any (each
// spec has its namespace).
func jobFor(ns, image string) *batchv1.Job {
	var jobs batchv1.JobList
	Expect(k8s.List(ctx(), &jobs, client.InNamespace(ns))).To(Succeed())
	for _, j := range jobs.Items {
		for _, c := range j.Spec.Template.Spec.Containers {
			if c.Image == image {
				return &j
			}
		}
	}
	return nil
}

// templateImage returns the image of the Deployment's first container.
func templateImage(d *appsv1.Deployment) string {
	return d.Spec.Template.Spec.Containers[0].Image
}

// waitReady waits for Ready at the current generation, with a message
// naming the UserService.
func waitReady(ns, name string) {
	GinkgoHelper()
	Eventually(ready(ns, name)).Should(Succeed(), "waiting for %s/%s to be Ready", ns, name)
}

// leaseHolder returns the holder of the operator's leader-election Lease.
func leaseHolder() string {
	var l coordinationv1.Lease
	if err := k8s.Get(ctx(), client.ObjectKey{Namespace: operatorNamespace, Name: leaseName}, &l); err != nil {
		return ""
	}
	if l.Spec.HolderIdentity == nil {
		return ""
	}
	return *l.Spec.HolderIdentity
}
