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
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	appsv1alpha1 "github.com/userservice-dev/userservice-operator/api/v1alpha1"
	"github.com/userservice-dev/userservice-operator/internal/resources"
)

// keptMigrationJobs is how many migration Jobs are kept per UserService; older ones are deleted.
const keptMigrationJobs = 3

// state carries what the phases learn during one reconcile.
type state struct {
	us        *appsv1alpha1.UserService
	jwtSecret resources.SecretKey
	// hashKey, jwtSum and dbSum are the secret-hash key and the SHA-256 of the
	// JWT secret and of the database URL, for the pod template's secret hash.
	hashKey, jwtSum, dbSum [sha256.Size]byte
	obs                    observation
}

// newState returns the initial state of a reconcile of us.
func newState(us *appsv1alpha1.UserService, defaultImage string) *state {
	image := us.Spec.Image
	if image == "" {
		image = defaultImage
	}
	return &state{us: us, obs: observation{
		Generation:      us.Generation,
		Paused:          us.Spec.Paused,
		DesiredImage:    image,
		DesiredReplicas: resources.DesiredReplicas(us),
		ServiceURL:      resources.ServiceURL(us),
		Selector:        labels.SelectorFromSet(resources.SelectorLabels(us)).String(),
	}}
}

// reconcileMigration makes sure the desired image's migration Job exists, never
// updating an existing one, observes its outcome and prunes old Jobs. It
// decides which image the Deployment may serve.
func (r *UserServiceReconciler) reconcileMigration(ctx context.Context, s *state) (bool, error) {
	if !resources.MigrationsEnabled(s.us) {
		s.obs.Migration = migration{Phase: MigrationDisabled}
		s.obs.ServingImage = s.obs.DesiredImage
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
	s.obs.ServingImage, err = r.servingImage(ctx, s)
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
	switch {
	case m.Phase == MigrationSucceeded && job.Spec.TTLSecondsAfterFinished == nil:
		// A Job created without a TTL (by an earlier version of the operator).
		return m, r.setJobTTL(ctx, job, ptr.To[int32](resources.MigrationSucceededTTLSeconds))
	case m.Phase == MigrationFailed && job.Spec.TTLSecondsAfterFinished != nil:
		// Removing the TTL is written once per failed Job, so the failure is counted there.
		err := r.setJobTTL(ctx, job, nil)
		if err == nil {
			observeMigration(ResultFailed, m)
		}
		return m, err
	}
	return m, nil
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

// setJobTTL sets or, with a nil ttl, removes the ttlSecondsAfterFinished of a
// finished migration Job. The field is mutable, and the TTL controller reads
// the Job again before it deletes it, so a removed TTL keeps the Job.
func (r *UserServiceReconciler) setJobTTL(ctx context.Context, job *batchv1.Job, ttl *int32) error {
	before := job.DeepCopy()
	job.Spec.TTLSecondsAfterFinished = ttl
	err := r.Client.Patch(ctx, job, client.MergeFrom(before), client.FieldOwner(resources.FieldOwner))
	if err != nil {
		return fmt.Errorf("setting ttlSecondsAfterFinished of migration Job %q to %v: %w", job.Name, ptr.Deref(ttl, -1), err)
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

// pruneMigrationJobs deletes this UserService's oldest migration Jobs, keeping
// the newest keptMigrationJobs and always the current one.
func (r *UserServiceReconciler) pruneMigrationJobs(ctx context.Context, us *appsv1alpha1.UserService, current string) error {
	var jobs batchv1.JobList
	if err := r.Client.List(ctx, &jobs, client.InNamespace(us.Namespace),
		client.MatchingFields{migrationJobOwnerIndex: us.Name}); err != nil {
		return fmt.Errorf("listing migration Jobs: %w", err)
	}
	owned := slices.DeleteFunc(jobs.Items, func(j batchv1.Job) bool {
		return !metaOwnedBy(&j, us) || j.Labels[resources.LabelComponent] != "migration" || j.Name == current
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

// metaOwnedBy reports whether obj has a controller reference to us.
func metaOwnedBy(obj client.Object, us *appsv1alpha1.UserService) bool {
	return controlledBy(obj, us.UID)
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

// currentDeployment returns the cached Deployment of us, or nil when there is none.
func (r *UserServiceReconciler) currentDeployment(ctx context.Context, us *appsv1alpha1.UserService) (*appsv1.Deployment, error) {
	d := &appsv1.Deployment{}
	err := r.Client.Get(ctx, client.ObjectKey{Namespace: us.Namespace, Name: us.Name}, d)
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading Deployment %q: %w", us.Name, err)
	}
	return d, nil
}

// reconcileDeployment applies the Deployment with the serving image. Before
// the first migration has succeeded there is no image to serve, so no Deployment.
func (r *UserServiceReconciler) reconcileDeployment(ctx context.Context, s *state) (bool, error) {
	if s.obs.ServingImage == "" {
		return false, nil
	}
	desired := resources.Deployment(s.us, s.obs.ServingImage, resources.Inputs{
		JWTSecret: s.jwtSecret, SecretsHash: s.obs.SecretsHash,
	})
	if desired.Spec.Replicas == nil {
		if err := r.handOffReplicas(ctx, desired); err != nil {
			return true, err
		}
	}
	live := &appsv1.Deployment{}
	if err := r.apply(ctx, desired, live); err != nil {
		return true, fmt.Errorf("applying Deployment %q: %w", desired.Name, err)
	}
	s.obs.Deployment = live
	return false, nil
}

// reconcileService applies the Service.
func (r *UserServiceReconciler) reconcileService(ctx context.Context, s *state) (bool, error) {
	desired := resources.Service(s.us)
	err := r.apply(ctx, desired, &corev1.Service{})
	if apierrors.IsInvalid(err) {
		// A port changed by hand is a new entry of the ports list (keyed by
		// port and protocol) that the operator's apply cannot remove, and
		// its name now collides: replace the whole list, then apply again.
		if err = r.replaceServicePorts(ctx, desired); err == nil {
			err = r.apply(ctx, desired, &corev1.Service{})
		}
	}
	if err != nil {
		return true, fmt.Errorf("applying Service %q: %w", desired.Name, err)
	}
	return false, nil
}

// replaceServicePorts sets the Service's ports to the desired list with a JSON merge patch.
func (r *UserServiceReconciler) replaceServicePorts(ctx context.Context, desired *corev1.Service) error {
	patch, err := json.Marshal(map[string]any{"spec": map[string]any{"ports": desired.Spec.Ports}})
	if err != nil {
		return fmt.Errorf("encoding the ports patch: %w", err)
	}
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: desired.Namespace, Name: desired.Name}}
	if err := r.Client.Patch(ctx, svc, client.RawPatch(types.MergePatchType, patch),
		client.FieldOwner(resources.FieldOwner)); err != nil {
		return fmt.Errorf("replacing the ports of Service %q: %w", desired.Name, err)
	}
	ctrl.LoggerFrom(ctx).Info("Replaced hand-edited Service ports", "service", desired.Name)
	return nil
}

// reconcileExtras applies or deletes the PodDisruptionBudget and the HorizontalPodAutoscaler as the spec asks.
func (r *UserServiceReconciler) reconcileExtras(ctx context.Context, s *state) (bool, error) {
	var pdb client.Object = &policyv1.PodDisruptionBudget{}
	if p := resources.PodDisruptionBudget(s.us); p != nil {
		pdb = p
	}
	var hpa client.Object = &autoscalingv2.HorizontalPodAutoscaler{}
	if h := resources.HorizontalPodAutoscaler(s.us); h != nil {
		hpa = h
	}
	for _, obj := range []client.Object{pdb, hpa} {
		if err := r.applyOrDelete(ctx, s.us, obj); err != nil {
			return true, err
		}
	}
	return false, nil
}

// reconcileNetworkPolicy applies or deletes the NetworkPolicy as spec.networkPolicy asks.
func (r *UserServiceReconciler) reconcileNetworkPolicy(ctx context.Context, s *state) (bool, error) {
	var np client.Object = &networkingv1.NetworkPolicy{}
	if p := resources.NetworkPolicy(s.us); p != nil {
		np = p
	}
	if err := r.applyOrDelete(ctx, s.us, np); err != nil {
		return true, err
	}
	return false, nil
}

// reconcileServiceMonitor applies or deletes the ServiceMonitor as
// spec.monitoring.serviceMonitor asks, reading ServiceMonitors from their
// own cache. While their CRD is not installed it only records that, and
// the reconcile goes on: the ServiceMonitor is created once the CRD appears.
func (r *UserServiceReconciler) reconcileServiceMonitor(ctx context.Context, s *state) (bool, error) {
	desired := resources.ServiceMonitor(s.us)
	cached := r.monitors.reader()
	switch {
	case cached == nil && desired != nil:
		s.obs.ServiceMonitor = ServiceMonitorCRDMissing
		return false, nil
	case cached == nil:
		s.obs.ServiceMonitor = ServiceMonitorDisabled
		return false, nil
	}
	var sm client.Object = &monitoringv1.ServiceMonitor{}
	s.obs.ServiceMonitor = ServiceMonitorDisabled
	if desired != nil {
		sm, s.obs.ServiceMonitor = desired, ServiceMonitorApplied
	}
	if err := r.applyOrDeleteFrom(ctx, cached, s.us, sm); err != nil {
		s.obs.ServiceMonitor = ""
		return true, err
	}
	return false, nil
}

// replicasHandOffOwner is the field manager that keeps spec.replicas while the HPA takes it over.
const replicasHandOffOwner = "userservice-operator-replicas-handoff"

// handOffReplicas runs before the first apply that leaves spec.replicas to an
// HPA. Server-side apply would delete a field its only owner stops applying,
// resetting the Deployment to 1 replica; so when the operator is the only
// applier of spec.replicas, a second field manager first applies the current
// value, and keeps it until the HPA's scale updates take the field over.
func (r *UserServiceReconciler) handOffReplicas(ctx context.Context, desired *appsv1.Deployment) error {
	live := &appsv1.Deployment{}
	err := r.APIReader.Get(ctx, client.ObjectKeyFromObject(desired), live) // The cache strips managedFields.
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading Deployment %q: %w", desired.Name, err)
	}
	if live.Spec.Replicas == nil || !appliesReplicas(live, resources.FieldOwner) {
		return nil
	}
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apps/v1", "kind": "Deployment",
		"metadata": map[string]any{"name": live.Name, "namespace": live.Namespace},
		"spec":     map[string]any{"replicas": int64(*live.Spec.Replicas)},
	}}
	if err := r.Client.Apply(ctx, client.ApplyConfigurationFromUnstructured(u),
		client.FieldOwner(replicasHandOffOwner), client.ForceOwnership); err != nil {
		return fmt.Errorf("handing spec.replicas of Deployment %q over to the HPA: %w", live.Name, err)
	}
	return nil
}

// appliesReplicas reports whether manager owns spec.replicas through server-side apply.
func appliesReplicas(d *appsv1.Deployment, manager string) bool {
	for _, mf := range d.ManagedFields {
		if mf.Manager != manager || mf.Operation != metav1.ManagedFieldsOperationApply || mf.FieldsV1 == nil {
			continue
		}
		var fields map[string]map[string]any
		if json.Unmarshal(mf.FieldsV1.Raw, &fields) == nil {
			if _, ok := fields["f:spec"]["f:replicas"]; ok {
				return true
			}
		}
	}
	return false
}
