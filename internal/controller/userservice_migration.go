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
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	appsv1alpha1 "github.com/userservice-dev/userservice-operator/api/v1alpha1"
	"github.com/userservice-dev/userservice-operator/internal/resources"
)

// keptMigrationJobs is how many migration Jobs are kept per UserService; older ones are deleted.
const keptMigrationJobs = 3

// reconcileMigration makes sure the desired image's migration Job exists, never
// updating an existing one, observes its outcome and prunes old Jobs. It
// sets s.servingImage, the image the Deployment may serve.
func (r *UserServiceReconciler) reconcileMigration(ctx context.Context, s *state) (bool, error) {
	if !resources.MigrationsEnabled(s.us) {
		s.obs.Migration = migration{Phase: MigrationDisabled}
		s.servingImage = s.obs.DesiredImage
		return false, nil
	}
	m, err := r.ensureMigrationJob(ctx, s)
	if err != nil {
		// Not recorded: the status keeps naming the last Job that exists, so
		// that a Job that could not be created is never taken for one that
		// succeeded and was deleted by its TTL.
		return true, err
	}
	s.obs.Migration = m
	if err := r.pruneMigrationJobs(ctx, s.us, m.Job); err != nil {
		return true, err
	}
	s.servingImage, err = r.servingImage(ctx, s)
	return false, err
}

// ensureMigrationJob creates the Job for the desired image when it does not
// exist (and has not already succeeded and been deleted by its TTL), and
// returns its phase. Jobs are created with their TTL, so that a success costs
// no write; a failed Job has its TTL removed, so that it is kept for its logs.
func (r *UserServiceReconciler) ensureMigrationJob(ctx context.Context, s *state) (migration, error) {
	us, image := s.us, s.obs.DesiredImage
	m := migration{Job: resources.MigrationJobName(us, image), Image: image, Phase: MigrationRunning}
	job := &batchv1.Job{}
	err := r.Client.Get(ctx, client.ObjectKey{Namespace: us.Namespace, Name: m.Job}, job)
	switch {
	case apierrors.IsNotFound(err) && us.Status.MigrationJob == m.Job && us.Status.MigratedImage == image:
		m.Phase = MigrationSucceeded // Succeeded earlier, then deleted by its TTL or by pruning.
		return m, nil
	case apierrors.IsNotFound(err):
		return m, r.createMigrationJob(ctx, s)
	case err != nil:
		return m, fmt.Errorf("reading migration Job %q: %w", m.Job, err)
	}
	m.Phase, m.Message = jobPhase(job)
	m.Duration, m.Timed = jobDuration(job)
	if m.Phase == MigrationFailed && job.Spec.TTLSecondsAfterFinished != nil {
		// Removing the TTL is written once per failed Job, so the failure is counted there.
		err := r.keepFailedJob(ctx, job)
		if err == nil {
			observeMigration(ResultFailed, m)
		}
		return m, err
	}
	return m, nil
}

// keepFailedJob removes the ttlSecondsAfterFinished of a failed migration
// Job. The field is mutable, and the TTL controller reads the Job again
// before it deletes it, so the Job is kept for its logs.
func (r *UserServiceReconciler) keepFailedJob(ctx context.Context, job *batchv1.Job) error {
	before := job.DeepCopy()
	job.Spec.TTLSecondsAfterFinished = nil
	err := r.Client.Patch(ctx, job, client.MergeFrom(before), client.FieldOwner(resources.FieldOwner))
	if err != nil {
		return fmt.Errorf("removing ttlSecondsAfterFinished of failed migration Job %q: %w", job.Name, err)
	}
	return nil
}

// createMigrationJob creates the migration Job for the desired image.
func (r *UserServiceReconciler) createMigrationJob(ctx context.Context, s *state) error {
	job := resources.MigrationJob(s.us, s.obs.DesiredImage)
	err := r.Client.Create(ctx, job, client.FieldOwner(resources.FieldOwner))
	if apierrors.IsAlreadyExists(err) {
		return nil // Not in the cache yet; its watch event brings the next reconcile.
	}
	if err != nil {
		return fmt.Errorf("creating migration Job %q: %w", job.Name, err)
	}
	r.Recorder.Eventf(s.us, job, corev1.EventTypeNormal, EventMigrationStarted, "Migrate",
		"Started migration Job %q for image %q", job.Name, s.obs.DesiredImage)
	ctrl.LoggerFrom(ctx).Info("Started a migration Job", "job", job.Name, "image", s.obs.DesiredImage)
	return nil
}

// jobPhase returns the migration phase of a Job from its conditions, with the failure message.
func jobPhase(job *batchv1.Job) (MigrationPhase, string) {
	for _, c := range job.Status.Conditions {
		if c.Status != corev1.ConditionTrue {
			continue
		}
		switch c.Type {
		case batchv1.JobComplete:
			return MigrationSucceeded, ""
		case batchv1.JobFailed:
			return MigrationFailed, c.Message
		}
	}
	return MigrationRunning, ""
}

// jobDuration returns how long a finished Job ran, from its start to its
// completion or failure, and false when it has not finished or lacks a time.
func jobDuration(job *batchv1.Job) (time.Duration, bool) {
	start := job.Status.StartTime
	if start == nil {
		return 0, false
	}
	end := job.Status.CompletionTime
	for _, c := range job.Status.Conditions {
		if c.Type == batchv1.JobFailed && c.Status == corev1.ConditionTrue {
			end = &c.LastTransitionTime
		}
	}
	if end == nil || end.Before(start) {
		return 0, false
	}
	return end.Sub(start.Time), true
}

// pruneMigrationJobs deletes this UserService's oldest migration Jobs, keeping
// the newest keptMigrationJobs and always the current one.
func (r *UserServiceReconciler) pruneMigrationJobs(ctx context.Context, us *appsv1alpha1.UserService, current string) error {
	var jobs batchv1.JobList
	if err := r.Client.List(ctx, &jobs, client.InNamespace(us.Namespace),
		client.MatchingFields{migrationJobOwnerIndex: us.Name}); err != nil {
		return fmt.Errorf("listing migration Jobs: %w", err)
	}
	owned := slices.DeleteFunc(jobs.Items, func(j batchv1.Job) bool {
		return !controlledBy(&j, us.UID) || j.Labels[resources.LabelComponent] != "migration" || j.Name == current
	})
	if len(owned) < keptMigrationJobs {
		return nil
	}
	slices.SortFunc(owned, func(a, b batchv1.Job) int {
		return cmp.Or(b.CreationTimestamp.Compare(a.CreationTimestamp.Time), cmp.Compare(b.Name, a.Name))
	})
	for _, j := range owned[keptMigrationJobs-1:] {
		err := r.Client.Delete(ctx, &j, client.PropagationPolicy("Background"), client.Preconditions{UID: &j.UID})
		if client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("deleting old migration Job %q: %w", j.Name, err)
		}
		ctrl.LoggerFrom(ctx).Info("Deleted an old migration Job", "job", j.Name)
	}
	return nil
}

// servingImage returns the image the Deployment may run: the desired image
// once its migration succeeded, else the last migrated image, else the image
// the Deployment runs now, else "" (no Deployment before the first migration).
func (r *UserServiceReconciler) servingImage(ctx context.Context, s *state) (string, error) {
	if s.obs.Migration.Phase == MigrationSucceeded {
		return s.obs.DesiredImage, nil
	}
	if s.us.Status.MigratedImage != "" {
		return s.us.Status.MigratedImage, nil
	}
	d, err := r.currentDeployment(ctx, s.us)
	if err != nil || d == nil {
		return "", err
	}
	return deploymentImage(d), nil
}
