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
	"errors"
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	appsv1alpha1 "github.com/userservice-dev/userservice-operator/api/v1alpha1"
)

// Condition reasons.
const (
	ReasonDatabaseSecretNotFound     = "DatabaseSecretNotFound"
	ReasonJWTSecretNotFound          = "JWTSecretNotFound"
	ReasonEventsSecretNotFound       = "EventsSecretNotFound"
	ReasonMigrating                  = "Migrating"
	ReasonMigrationFailed            = "MigrationFailed"
	ReasonDeploymentNotFound         = "DeploymentNotFound"
	ReasonRollingOut                 = "RollingOut"
	ReasonRolloutComplete            = "RolloutComplete"
	ReasonMinimumReplicasAvailable   = "MinimumReplicasAvailable"
	ReasonMinimumReplicasUnavailable = "MinimumReplicasUnavailable"
	ReasonProgressDeadlineExceeded   = "ProgressDeadlineExceeded"
	ReasonAsExpected                 = "AsExpected"
	ReasonPaused                     = "Paused"
	ReasonReconcileError             = "ReconcileError"
	ReasonResourceConflict           = "ResourceConflict"
	ReasonSecretHashKeyNotFound      = "SecretHashKeyNotFound"
	ReasonSecretNotAllowed           = "SecretNotAllowed"
	ReasonInvalidSpec                = "InvalidSpec"
)

// Event reasons.
const (
	EventSecretGenerated    = "SecretGenerated"
	EventMigrationStarted   = "MigrationStarted"
	EventMigrationSucceeded = "MigrationSucceeded"
	EventMigrationFailed    = "MigrationFailed"
	EventRolloutComplete    = "RolloutComplete"
)

// MigrationPhase is the state of the migration for the desired image.
type MigrationPhase string

// Migration phases. The zero value means the reconcile stopped before the migration phase.
const (
	MigrationDisabled  MigrationPhase = "Disabled"
	MigrationRunning   MigrationPhase = "Running"
	MigrationSucceeded MigrationPhase = "Succeeded"
	MigrationFailed    MigrationPhase = "Failed"
)

// problem is a user-fixable reason that stopped the reconcile.
type problem struct {
	Reason  string
	Message string
}

// failure is a phase that returned an error (an API error, not a user-fixable problem).
type failure struct {
	// Phase names the phase, such as "Deployment".
	Phase string
	// Reason is the API status reason of the error (such as Forbidden or Timeout), "" when unknown.
	Reason string
}

// migration is what the migration phase observed.
type migration struct {
	Phase   MigrationPhase
	Job     string
	Image   string
	Message string
}

// observation is everything the status is computed from. The phases fill it in.
type observation struct {
	Generation      int64
	Paused          bool
	Problem         *problem
	Failure         *failure
	SecretsHash     string
	DesiredImage    string
	ServingImage    string
	DesiredReplicas int32
	Migration       migration
	Deployment      *appsv1.Deployment
	ServiceURL      string
	Selector        string
}

// computeStatus returns the new status from the old one and an observation.
// Conditions keep their lastTransitionTime unless their status changes.
func computeStatus(old appsv1alpha1.UserServiceStatus, o observation) appsv1alpha1.UserServiceStatus {
	st := *old.DeepCopy()
	st.ObservedGeneration = o.Generation
	if o.Paused {
		setCondition(&st, o, appsv1alpha1.ConditionProgressing, false, ReasonPaused,
			"Reconciliation is paused by spec.paused: children are left unchanged")
		mirrorCondition(&st, appsv1alpha1.ConditionProgressing, appsv1alpha1.ConditionReconciling)
		return st
	}
	st.ServiceURL = o.ServiceURL
	st.Selector = o.Selector
	setMigrationStatus(&st, o.Migration)
	setReplicaStatus(&st, o)
	setAvailableCondition(&st, o)
	setDegradedCondition(&st, o)
	setProgressingCondition(&st, o)
	setReadyCondition(&st, o)
	mirrorCondition(&st, appsv1alpha1.ConditionProgressing, appsv1alpha1.ConditionReconciling)
	mirrorCondition(&st, appsv1alpha1.ConditionDegraded, appsv1alpha1.ConditionStalled)
	return st
}

// mirrorCondition copies condition from to condition to (status, reason,
// message and generation), for the kstatus names Reconciling and Stalled.
func mirrorCondition(st *appsv1alpha1.UserServiceStatus, from, to string) {
	c := meta.FindStatusCondition(st.Conditions, from)
	if c == nil {
		return
	}
	meta.SetStatusCondition(&st.Conditions, metav1.Condition{
		Type: to, Status: c.Status, Reason: c.Reason, Message: c.Message, ObservedGeneration: c.ObservedGeneration,
	})
}

// setCondition sets one condition with the observation's generation.
func setCondition(st *appsv1alpha1.UserServiceStatus, o observation, typ string, status bool, reason, msg string) {
	s := metav1.ConditionFalse
	if status {
		s = metav1.ConditionTrue
	}
	meta.SetStatusCondition(&st.Conditions, metav1.Condition{
		Type: typ, Status: s, Reason: reason, Message: msg, ObservedGeneration: o.Generation,
	})
}

// setMigrationStatus records the migration Job and, once it succeeded, the migrated image.
func setMigrationStatus(st *appsv1alpha1.UserServiceStatus, m migration) {
	switch m.Phase {
	case MigrationSucceeded:
		st.MigratedImage, st.MigrationJob = m.Image, m.Job
	case MigrationRunning, MigrationFailed:
		st.MigrationJob = m.Job
	case MigrationDisabled:
		st.MigrationJob = ""
	}
}

// setReplicaStatus copies the Deployment's replica counts and image.
func setReplicaStatus(st *appsv1alpha1.UserServiceStatus, o observation) {
	d := o.Deployment
	if d == nil {
		st.Replicas, st.ReadyReplicas, st.UpdatedReplicas, st.Image = 0, 0, 0, ""
		st.ReplicasSummary = fmt.Sprintf("0/%d", o.DesiredReplicas)
		return
	}
	st.Replicas, st.ReadyReplicas, st.UpdatedReplicas = d.Status.Replicas, d.Status.ReadyReplicas, d.Status.UpdatedReplicas
	st.Image = deploymentImage(d)
	st.ReplicasSummary = fmt.Sprintf("%d/%d", d.Status.ReadyReplicas, ptr.Deref(d.Spec.Replicas, 1))
}

// setAvailableCondition mirrors the Deployment's Available condition.
func setAvailableCondition(st *appsv1alpha1.UserServiceStatus, o observation) {
	d := o.Deployment
	switch {
	case d == nil:
		setCondition(st, o, appsv1alpha1.ConditionAvailable, false, ReasonDeploymentNotFound,
			"The Deployment does not exist yet: it is created once the first migration has succeeded")
	case deploymentCondition(d, appsv1.DeploymentAvailable) == corev1.ConditionTrue:
		setCondition(st, o, appsv1alpha1.ConditionAvailable, true, ReasonMinimumReplicasAvailable,
			fmt.Sprintf("%d of %d replicas are available", d.Status.AvailableReplicas, ptr.Deref(d.Spec.Replicas, 1)))
	default:
		setCondition(st, o, appsv1alpha1.ConditionAvailable, false, ReasonMinimumReplicasUnavailable,
			fmt.Sprintf("%d of %d replicas are available", d.Status.AvailableReplicas, ptr.Deref(d.Spec.Replicas, 1)))
	}
}

// setDegradedCondition is True when the desired state cannot be reached without a change from the user.
func setDegradedCondition(st *appsv1alpha1.UserServiceStatus, o observation) {
	switch p := o.Problem; {
	case p != nil:
		setCondition(st, o, appsv1alpha1.ConditionDegraded, true, p.Reason, p.Message)
	case o.Migration.Phase == MigrationFailed:
		setCondition(st, o, appsv1alpha1.ConditionDegraded, true, ReasonMigrationFailed, migrationFailedMessage(o))
	case o.Deployment != nil && deploymentProgressDeadlineExceeded(o.Deployment):
		setCondition(st, o, appsv1alpha1.ConditionDegraded, true, ReasonProgressDeadlineExceeded,
			fmt.Sprintf("Deployment %q exceeded its progress deadline: check its pods' events and logs", o.Deployment.Name))
	default:
		setCondition(st, o, appsv1alpha1.ConditionDegraded, false, ReasonAsExpected, "")
	}
}

// setProgressingCondition is True while a migration runs, the Deployment rolls
// out, or a phase that failed with an API error is retried.
func setProgressingCondition(st *appsv1alpha1.UserServiceStatus, o observation) {
	status, reason, msg := progressing(o)
	setCondition(st, o, appsv1alpha1.ConditionProgressing, status, reason, msg)
}

// progressing returns the Progressing condition's status, reason and message.
func progressing(o observation) (bool, string, string) {
	switch {
	case o.Failure != nil:
		return true, ReasonReconcileError, failureMessage(o.Failure)
	case o.Problem != nil:
		return false, o.Problem.Reason, o.Problem.Message
	case o.Migration.Phase == MigrationRunning:
		return true, ReasonMigrating, fmt.Sprintf("Migration Job %q for image %q is running", o.Migration.Job, o.Migration.Image)
	case o.Migration.Phase == MigrationFailed:
		return false, ReasonMigrationFailed, migrationFailedMessage(o)
	case o.Deployment == nil:
		return true, ReasonRollingOut, "Waiting for the Deployment to be created"
	case !rolloutComplete(o.Deployment):
		d := o.Deployment
		return true, ReasonRollingOut, fmt.Sprintf("%d of %d replicas updated to the current template, %d available",
			d.Status.UpdatedReplicas, ptr.Deref(d.Spec.Replicas, 1), d.Status.AvailableReplicas)
	}
	return false, ReasonRolloutComplete, fmt.Sprintf("Deployment %q runs image %q", o.Deployment.Name, deploymentImage(o.Deployment))
}

// setReadyCondition is True when the Deployment is available, every replica
// runs the desired image and its migration succeeded (or migrations are disabled).
func setReadyCondition(st *appsv1alpha1.UserServiceStatus, o observation) {
	if ok, reason, msg := ready(st, o); !ok {
		setCondition(st, o, appsv1alpha1.ConditionReady, false, reason, msg)
		return
	}
	setCondition(st, o, appsv1alpha1.ConditionReady, true, ReasonRolloutComplete,
		fmt.Sprintf("Image %q is migrated and serves on all replicas", o.DesiredImage))
}

// ready returns whether the UserService is ready, and otherwise the first reason it is not.
func ready(st *appsv1alpha1.UserServiceStatus, o observation) (bool, string, string) {
	if p, r, m := progressing(o); p || r != ReasonRolloutComplete {
		return false, r, m
	}
	if image := deploymentImage(o.Deployment); image != o.DesiredImage {
		return false, ReasonRollingOut, fmt.Sprintf("The Deployment runs image %q, not the desired %q", image, o.DesiredImage)
	}
	if c := meta.FindStatusCondition(st.Conditions, appsv1alpha1.ConditionAvailable); c == nil || c.Status != metav1.ConditionTrue {
		return false, ReasonMinimumReplicasUnavailable, "The Deployment is not available"
	}
	return true, "", ""
}

// failureMessage says which phase failed and where to read the error. It
// holds no error text, which may carry generated names or timestamps that
// would make the condition flap, so it stays the same while the error repeats.
func failureMessage(f *failure) string {
	reason := ""
	if f.Reason != "" {
		reason = " (" + f.Reason + ")"
	}
	return fmt.Sprintf("Reconciling the %s failed%s; the spec is not applied yet and is retried with backoff: "+
		"see the operator's log for the error", f.Phase, reason)
}

// maxInvalidDetail bounds the API server's message quoted in an InvalidSpec condition.
const maxInvalidDetail = 1024

// invalidSpecMessage says which phase an object built from the spec was
// rejected in, quoting the API server's message, which names the object and
// the invalid fields and is the same for the same spec. Only objects built
// from the spec reach the API server with values of their own; Secrets'
// values never do, so the message holds none.
func invalidSpecMessage(phase string, err error) string {
	detail := err.Error()
	if status, ok := err.(apierrors.APIStatus); ok || errors.As(err, &status) {
		detail = status.Status().Message
	}
	if len(detail) > maxInvalidDetail {
		detail = strings.ToValidUTF8(detail[:maxInvalidDetail], "") + "…"
	}
	return fmt.Sprintf("Reconciling the %s failed: the API server rejected an object built from the spec: %s. "+
		"Fix the spec; the operator tries again when it changes", phase, detail)
}

// migrationFailedMessage names the failed Job and says what to do.
func migrationFailedMessage(o observation) string {
	m := o.Migration
	msg := fmt.Sprintf("Migration Job %q for image %q failed", m.Job, m.Image)
	if m.Message != "" {
		msg += ": " + m.Message
	}
	return msg + fmt.Sprintf("; the previous image keeps serving. Read the Job's logs, then fix the image, the database "+
		"or the spec (any change to the Job's pod spec starts a new Job), or delete Job %q to retry it unchanged", m.Job)
}

// rolloutComplete reports whether the Deployment's controller has observed
// its latest spec and every desired replica is updated and available, with no old replica left.
func rolloutComplete(d *appsv1.Deployment) bool {
	want := ptr.Deref(d.Spec.Replicas, 1)
	s := d.Status
	return s.ObservedGeneration >= d.Generation && s.UpdatedReplicas == want && s.Replicas == want &&
		s.AvailableReplicas == want
}

// deploymentImage returns the image of the Deployment's first container, or "" for a nil Deployment.
func deploymentImage(d *appsv1.Deployment) string {
	if d == nil || len(d.Spec.Template.Spec.Containers) == 0 {
		return ""
	}
	return d.Spec.Template.Spec.Containers[0].Image
}

// deploymentCondition returns the status of one of the Deployment's conditions, "" when absent.
func deploymentCondition(d *appsv1.Deployment, t appsv1.DeploymentConditionType) corev1.ConditionStatus {
	for _, c := range d.Status.Conditions {
		if c.Type == t {
			return c.Status
		}
	}
	return ""
}

// deploymentProgressDeadlineExceeded reports whether the Deployment controller gave up on a rollout.
func deploymentProgressDeadlineExceeded(d *appsv1.Deployment) bool {
	for _, c := range d.Status.Conditions {
		if c.Type == appsv1.DeploymentProgressing && c.Status == corev1.ConditionFalse {
			return c.Reason == ReasonProgressDeadlineExceeded
		}
	}
	return false
}

// migrationRecorded reports whether the old status already recorded the
// success of migration m: the Job and image are recorded and the status did
// not say that the Job was still running.
func migrationRecorded(old appsv1alpha1.UserServiceStatus, m migration) bool {
	p := meta.FindStatusCondition(old.Conditions, appsv1alpha1.ConditionProgressing)
	return old.MigrationJob == m.Job && old.MigratedImage == m.Image && (p == nil || p.Reason != ReasonMigrating)
}
