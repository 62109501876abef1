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

package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	appsv1alpha1 "github.com/userservice-dev/userservice-operator/api/v1alpha1"
	"github.com/userservice-dev/userservice-operator/internal/resources"
)

// progressEvery is how often the phases print their progress.
const progressEvery = time.Second

// direct creates, for n instances, the JWT and secret-hash key Secrets and the migration Job, then the
// Deployment and Service of each instance as soon as its Job has completed,
// and returns once every Deployment is available. It follows Jobs and
// Deployments with watches, not by listing them again and again, so that
// waiting costs the API server little.
func direct(ctx context.Context, c client.WithWatch, ns string, n int) error {
	owner, err := newOwner(ctx, c, ns)
	if err != nil {
		return err
	}
	jobToInstance := map[string]*appsv1alpha1.UserService{}
	for i := range n {
		us := instance(ns, i)
		random := make([]byte, resources.JWTSecretRandomBytes+resources.HashKeyRandomBytes)
		if _, err := rand.Read(random); err != nil {
			return err
		}
		job := resources.MigrationJob(us, image) // With the TTL the operator creates it with.
		for _, obj := range []client.Object{resources.JWTSecret(us, random[:resources.JWTSecretRandomBytes]),
			resources.HashKeySecret(us, random[resources.JWTSecretRandomBytes:]), job} {
			if err := createOwned(ctx, c, obj, owner); err != nil {
				return err
			}
		}
		jobToInstance[job.Name] = us
	}
	rolled := set{}
	p := newProgress("Jobs complete", n)
	err = follow(ctx, c, ns, &batchv1.JobList{}, &batchv1.Job{}, func(obj client.Object) (bool, error) {
		j := obj.(*batchv1.Job)
		us := jobToInstance[j.Name]
		if _, done := rolled[j.Name]; us == nil || done || !complete(j) {
			return false, nil
		}
		in := resources.Inputs{JWTSecret: resources.JWTSecretRef(us)}
		for _, obj := range []client.Object{resources.Deployment(us, image, in), resources.Service(us)} {
			if err := createOwned(ctx, c, obj, owner); err != nil {
				return false, err
			}
		}
		rolled.put(j.Name, true)
		p.report(len(rolled))
		return len(rolled) == n, nil
	})
	if err != nil {
		return err
	}
	available := set{}
	p = newProgress("Deployments available", n)
	return follow(ctx, c, ns, &appsv1.DeploymentList{}, &appsv1.Deployment{}, func(obj client.Object) (bool, error) {
		d := obj.(*appsv1.Deployment)
		available.put(d.Name, isAvailable(d))
		p.report(len(available))
		return len(available) == n, nil
	})
}

// newOwner creates the ConfigMap that owns every baseline child, so that
// the children carry a controller owner reference with blockOwnerDeletion, as
// the operator's do: the API server's admission checks it and the garbage
// collector tracks it, as for the operator's children. The in-memory
// UserServices do not exist, and the garbage collector would delete children
// that name them.
func newOwner(ctx context.Context, c client.Client, ns string) (metav1.OwnerReference, error) {
	owner := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "bench-owner"}}
	if err := c.Create(ctx, owner); err != nil {
		return metav1.OwnerReference{}, fmt.Errorf("creating the owner ConfigMap: %w", err)
	}
	return *metav1.NewControllerRef(owner, corev1.SchemeGroupVersion.WithKind("ConfigMap")), nil
}

// createOwned creates obj with owner as its only owner reference.
func createOwned(ctx context.Context, c client.Client, obj client.Object, owner metav1.OwnerReference) error {
	obj.SetOwnerReferences([]metav1.OwnerReference{owner})
	if err := c.Create(ctx, obj); err != nil {
		return fmt.Errorf("creating %T %s: %w", obj, obj.GetName(), err)
	}
	return nil
}

// complete reports whether a Job has succeeded.
func complete(j *batchv1.Job) bool {
	for _, c := range j.Status.Conditions {
		if c.Type == batchv1.JobComplete && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

// isAvailable reports whether every pod of a Deployment's current generation is available.
func isAvailable(d *appsv1.Deployment) bool {
	want := int32(1)
	if d.Spec.Replicas != nil {
		want = *d.Spec.Replicas
	}
	return d.Status.ObservedGeneration == d.Generation &&
		d.Status.AvailableReplicas == want && d.Status.UpdatedReplicas == want
}

// set holds the names of the objects in some state.
type set map[string]struct{}

// put adds name when in is true and removes it otherwise.
func (s set) put(name string, in bool) {
	if in {
		s[name] = struct{}{}
	} else {
		delete(s, name)
	}
}

// viaOperator creates n UserServices and returns once each is Ready at its
// generation and has its Deployment, Service, JWT Secret and Job. It follows
// the UserServices with a watch, then counts the children once (and again
// every second in the unlikely case that one is still missing).
func viaOperator(ctx context.Context, c client.WithWatch, ns string, n int) error {
	for i := range n {
		if err := c.Create(ctx, instance(ns, i)); err != nil {
			return fmt.Errorf("creating UserService %d: %w", i, err)
		}
	}
	ready := set{}
	p := newProgress("UserServices Ready", n)
	err := follow(ctx, c, ns, &appsv1alpha1.UserServiceList{}, &appsv1alpha1.UserService{},
		func(obj client.Object) (bool, error) {
			us := obj.(*appsv1alpha1.UserService)
			cond := meta.FindStatusCondition(us.Status.Conditions, "Ready")
			ready.put(us.Name, cond != nil && cond.Status == metav1.ConditionTrue && cond.ObservedGeneration == us.Generation)
			p.report(len(ready))
			return len(ready) == n, nil
		})
	if err != nil {
		return err
	}
	for {
		missing, err := missingChildren(ctx, c, ns, n)
		if err != nil || missing == "" {
			return err
		}
		fmt.Fprintf(os.Stderr, "  all Ready but %s\n", missing)
		select {
		case <-ctx.Done():
			return fmt.Errorf("timed out waiting for the children of %d UserServices: %w", n, ctx.Err())
		case <-time.After(progressEvery):
		}
	}
}

// missingChildren lists the operator's children in ns and describes the
// first kind with fewer than n objects, or returns "" when none is short.
func missingChildren(ctx context.Context, c client.Client, ns string, n int) (string, error) {
	for _, k := range []struct {
		name string
		list client.ObjectList
	}{
		{"Deployment", &appsv1.DeploymentList{}}, {"Service", &corev1.ServiceList{}},
		{"Job", &batchv1.JobList{}}, {"Secret", &corev1.SecretList{}},
	} {
		if err := c.List(ctx, k.list, client.InNamespace(ns),
			client.MatchingLabels{"app.kubernetes.io/managed-by": "userservice-operator"}); err != nil {
			return "", fmt.Errorf("listing %ss: %w", k.name, err)
		}
		if got := meta.LenList(k.list); got < n {
			return fmt.Sprintf("only %d of %d %ss", got, n, k.name), nil
		}
	}
	return "", nil
}

// follow lists and watches the objects of list's kind (items of item's type)
// in ns with client-go's UntilWithSync, which lists again when the watch
// cannot resume, and passes every added or modified object to seen until
// seen reports done.
func follow(ctx context.Context, c client.WithWatch, ns string, list client.ObjectList, item client.Object,
	seen func(client.Object) (bool, error)) error {
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			l := list.DeepCopyObject().(client.ObjectList)
			return l, c.List(ctx, l, client.InNamespace(ns), &client.ListOptions{Raw: &o})
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			return c.Watch(ctx, list, client.InNamespace(ns), &client.ListOptions{Raw: &o})
		},
	}
	_, err := watchtools.UntilWithSync(ctx, lw, item, nil, func(ev watch.Event) (bool, error) {
		if ev.Type != watch.Added && ev.Type != watch.Modified {
			return false, nil
		}
		return seen(ev.Object.(client.Object))
	})
	if err != nil {
		return fmt.Errorf("following %T: %w", list, err)
	}
	return nil
}

// progress prints "<count> of <n> <what>" to stderr at most once per
// progressEvery, and always for the last count.
type progress struct {
	what    string
	n, last int
	printed time.Time
}

// newProgress returns a progress printer for n objects.
func newProgress(what string, n int) *progress { return &progress{what: what, n: n, last: -1} }

// report prints count when it changed and the last print is old enough, or count is n.
func (p *progress) report(count int) {
	if count == p.last || (count < p.n && time.Since(p.printed) < progressEvery) {
		return
	}
	fmt.Fprintf(os.Stderr, "  %d of %d %s\n", count, p.n, p.what)
	p.last, p.printed = count, time.Now()
}
