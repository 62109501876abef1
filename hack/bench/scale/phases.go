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
	"sigs.k8s.io/controller-runtime/pkg/client"

	appsv1alpha1 "github.com/userservice-dev/userservice-operator/api/v1alpha1"
	"github.com/userservice-dev/userservice-operator/internal/resources"
)

// poll is how often the phases list objects to see progress.
const poll = 500 * time.Millisecond

// direct creates, for n instances, the JWT Secret and migration Job, then the
// Deployment and Service of each instance whose Job has completed, and
// returns once every Deployment is available.
func direct(ctx context.Context, c client.Client, ns string, n int) error {
	jobToInstance := map[string]*appsv1alpha1.UserService{}
	for i := range n {
		us := instance(ns, i)
		random := make([]byte, resources.JWTSecretRandomBytes)
		if _, err := rand.Read(random); err != nil {
			return err
		}
		in := resources.Inputs{Image: image, JWTSecret: resources.JWTSecretRef(us)}
		job := resources.MigrationJob(us, in)
		for _, obj := range []client.Object{resources.JWTSecret(us, random), job} {
			if err := createUnowned(ctx, c, obj); err != nil {
				return err
			}
		}
		jobToInstance[job.Name] = us
	}
	rolled := map[string]bool{}
	for len(rolled) < n {
		var jobs batchv1.JobList
		if err := c.List(ctx, &jobs, client.InNamespace(ns)); err != nil {
			return fmt.Errorf("listing Jobs: %w", err)
		}
		for _, j := range jobs.Items {
			us := jobToInstance[j.Name]
			if us == nil || rolled[j.Name] || !complete(&j) {
				continue
			}
			in := resources.Inputs{Image: image, JWTSecret: resources.JWTSecretRef(us)}
			for _, obj := range []client.Object{resources.Deployment(us, in), resources.Service(us)} {
				if err := createUnowned(ctx, c, obj); err != nil {
					return err
				}
			}
			rolled[j.Name] = true
		}
		if err := sleep(ctx, fmt.Sprintf("%d of %d Jobs complete", len(rolled), n)); err != nil {
			return err
		}
	}
	return waitFor(ctx, fmt.Sprintf("%d Deployments available", n), func() (bool, error) {
		var ds appsv1.DeploymentList
		if err := c.List(ctx, &ds, client.InNamespace(ns)); err != nil {
			return false, err
		}
		return countAvailable(ds.Items) == n, nil
	})
}

// createUnowned creates obj without the owner reference to the in-memory
// UserService, which does not exist (the garbage collector would delete it).
func createUnowned(ctx context.Context, c client.Client, obj client.Object) error {
	obj.SetOwnerReferences(nil)
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

// countAvailable counts the Deployments whose pods are all available.
func countAvailable(ds []appsv1.Deployment) int {
	n := 0
	for _, d := range ds {
		want := int32(1)
		if d.Spec.Replicas != nil {
			want = *d.Spec.Replicas
		}
		if d.Status.ObservedGeneration == d.Generation && d.Status.AvailableReplicas == want && d.Status.UpdatedReplicas == want {
			n++
		}
	}
	return n
}

// viaOperator creates n UserServices and returns once each is Ready at its
// generation and has its Deployment, Service, JWT Secret and Job.
func viaOperator(ctx context.Context, c client.Client, ns string, n int) error {
	for i := range n {
		if err := c.Create(ctx, instance(ns, i)); err != nil {
			return fmt.Errorf("creating UserService %d: %w", i, err)
		}
	}
	return waitFor(ctx, fmt.Sprintf("%d UserServices Ready with all children", n), func() (bool, error) {
		return allReady(ctx, c, ns, n)
	})
}

// lastReady is the Ready count allReady printed last.
var lastReady = -1

// allReady reports whether n UserServices are Ready and every child exists.
func allReady(ctx context.Context, c client.Client, ns string, n int) (bool, error) {
	var list appsv1alpha1.UserServiceList
	if err := c.List(ctx, &list, client.InNamespace(ns)); err != nil {
		return false, fmt.Errorf("listing UserServices: %w", err)
	}
	ready := 0
	for _, us := range list.Items {
		cond := meta.FindStatusCondition(us.Status.Conditions, "Ready")
		if cond != nil && cond.Status == metav1.ConditionTrue && cond.ObservedGeneration == us.Generation {
			ready++
		}
	}
	if ready < n {
		if ready != lastReady {
			fmt.Fprintf(os.Stderr, "  %d of %d UserServices Ready\n", ready, n)
			lastReady = ready
		}
		return false, nil
	}
	counts := map[string]int{}
	for name, l := range map[string]client.ObjectList{
		"Deployment": &appsv1.DeploymentList{}, "Service": &corev1.ServiceList{},
		"Job": &batchv1.JobList{}, "Secret": &corev1.SecretList{},
	} {
		if err := c.List(ctx, l, client.InNamespace(ns),
			client.MatchingLabels{"app.kubernetes.io/managed-by": "userservice-operator"}); err != nil {
			return false, err
		}
		counts[name] = meta.LenList(l)
	}
	for name, got := range counts {
		if got < n {
			fmt.Fprintf(os.Stderr, "  all Ready but only %d of %d %ss\n", got, n, name)
			return false, nil
		}
	}
	return true, nil
}

// waitFor polls done until it reports true, printing what it waits for.
func waitFor(ctx context.Context, what string, done func() (bool, error)) error {
	for {
		ok, err := done()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		if err := sleep(ctx, what); err != nil {
			return err
		}
	}
}

// sleep waits one poll interval, or fails naming what it waited for when
// the context ends.
func sleep(ctx context.Context, what string) error {
	select {
	case <-ctx.Done():
		return fmt.Errorf("timed out waiting for %s: %w", what, ctx.Err())
	case <-time.After(poll):
		return nil
	}
}
