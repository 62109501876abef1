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
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"

	appsv1alpha1 "github.com/userservice-dev/userservice-operator/api/v1alpha1"
)

// deployment returns a Deployment running image with the given replica counts and availability.
func deployment(image string, want, updated, available int32, isAvailable bool) *appsv1.Deployment {
	avail := corev1.ConditionFalse
	if isAvailable {
		avail = corev1.ConditionTrue
	}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "users", Generation: 4},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(want),
			Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Image: image}}}},
		},
		Status: appsv1.DeploymentStatus{
			ObservedGeneration: 4, Replicas: want, UpdatedReplicas: updated, ReadyReplicas: available,
			AvailableReplicas: available,
			Conditions:        []appsv1.DeploymentCondition{{Type: appsv1.DeploymentAvailable, Status: avail}},
		},
	}
}

// wantCondition is the expected status and reason of one condition.
type wantCondition struct {
	status metav1.ConditionStatus
	reason string
}

func TestComputeStatus(t *testing.T) {
	base := observation{Generation: 7, DesiredImage: "img:v2", DesiredReplicas: 2}
	tests := []struct {
		name        string
		obs         func(o *observation)
		want        map[string]wantCondition
		wantMessage string
	}{
		{"database secret missing", func(o *observation) {
			o.Problem = &problem{Reason: ReasonDatabaseSecretNotFound, Message: `Secret "db" with key "url" not found`}
		}, map[string]wantCondition{
			"Ready":       {metav1.ConditionFalse, ReasonDatabaseSecretNotFound},
			"Degraded":    {metav1.ConditionTrue, ReasonDatabaseSecretNotFound},
			"Progressing": {metav1.ConditionFalse, ReasonDatabaseSecretNotFound},
			"Available":   {metav1.ConditionFalse, ReasonDeploymentNotFound},
		}, `Secret "db" with key "url"`},
		{"migration running, old image serving", func(o *observation) {
			o.Migration = migration{Phase: MigrationRunning, Job: "users-migrate-abc", Image: "img:v2"}
			o.Deployment = deployment("img:v1", 2, 2, 2, true)
		}, map[string]wantCondition{
			"Ready":       {metav1.ConditionFalse, ReasonMigrating},
			"Progressing": {metav1.ConditionTrue, ReasonMigrating},
			"Available":   {metav1.ConditionTrue, ReasonMinimumReplicasAvailable},
			"Degraded":    {metav1.ConditionFalse, ReasonAsExpected},
		}, "users-migrate-abc"},
		{"migration failed", func(o *observation) {
			o.Migration = migration{Phase: MigrationFailed, Job: "users-migrate-abc", Image: "img:v2", Message: "BackoffLimitExceeded"}
			o.Deployment = deployment("img:v1", 2, 2, 2, true)
		}, map[string]wantCondition{
			"Ready":       {metav1.ConditionFalse, ReasonMigrationFailed},
			"Degraded":    {metav1.ConditionTrue, ReasonMigrationFailed},
			"Progressing": {metav1.ConditionFalse, ReasonMigrationFailed},
			"Available":   {metav1.ConditionTrue, ReasonMinimumReplicasAvailable},
		}, `delete Job "users-migrate-abc" to retry it unchanged`},
		{"rolling out", func(o *observation) {
			o.Migration = migration{Phase: MigrationSucceeded, Job: "users-migrate-abc", Image: "img:v2"}
			o.Deployment = deployment("img:v2", 2, 1, 2, true)
		}, map[string]wantCondition{
			"Ready":       {metav1.ConditionFalse, ReasonRollingOut},
			"Progressing": {metav1.ConditionTrue, ReasonRollingOut},
		}, ""},
		{"rollout complete", func(o *observation) {
			o.Migration = migration{Phase: MigrationSucceeded, Job: "users-migrate-abc", Image: "img:v2"}
			o.Deployment = deployment("img:v2", 2, 2, 2, true)
		}, map[string]wantCondition{
			"Ready":       {metav1.ConditionTrue, ReasonRolloutComplete},
			"Progressing": {metav1.ConditionFalse, ReasonRolloutComplete},
			"Available":   {metav1.ConditionTrue, ReasonMinimumReplicasAvailable},
			"Degraded":    {metav1.ConditionFalse, ReasonAsExpected},
		}, ""},
		{"migrations disabled, complete", func(o *observation) {
			o.Migration = migration{Phase: MigrationDisabled}
			o.Deployment = deployment("img:v2", 2, 2, 2, true)
		}, map[string]wantCondition{"Ready": {metav1.ConditionTrue, ReasonRolloutComplete}}, ""},
		{"complete but unavailable", func(o *observation) {
			o.Migration = migration{Phase: MigrationDisabled}
			o.Deployment = deployment("img:v2", 2, 2, 2, false)
		}, map[string]wantCondition{
			"Ready":     {metav1.ConditionFalse, ReasonMinimumReplicasUnavailable},
			"Available": {metav1.ConditionFalse, ReasonMinimumReplicasUnavailable},
		}, ""},
		{"stale deployment generation", func(o *observation) {
			o.Migration = migration{Phase: MigrationDisabled}
			o.Deployment = deployment("img:v2", 2, 2, 2, true)
			o.Deployment.Generation = 5
		}, map[string]wantCondition{"Ready": {metav1.ConditionFalse, ReasonRollingOut}}, ""},
		{"phase error after an earlier rollout (no migration observed)", func(o *observation) {
			o.Failure = &failure{Phase: "database Secret", Reason: "Timeout"}
			o.Deployment = deployment("img:v2", 2, 2, 2, true)
		}, map[string]wantCondition{
			"Ready":       {metav1.ConditionFalse, ReasonReconcileError},
			"Progressing": {metav1.ConditionTrue, ReasonReconcileError},
			"Degraded":    {metav1.ConditionFalse, ReasonAsExpected},
			"Available":   {metav1.ConditionTrue, ReasonMinimumReplicasAvailable},
		}, "Reconciling the database Secret failed (Timeout)"},
		{"phase error applying the Deployment after the migration", func(o *observation) {
			o.Failure = &failure{Phase: "Deployment", Reason: "Forbidden"}
			o.Migration = migration{Phase: MigrationSucceeded, Job: "j", Image: "img:v2"}
			o.Deployment = deployment("img:v2", 2, 2, 2, true)
		}, map[string]wantCondition{
			"Ready":       {metav1.ConditionFalse, ReasonReconcileError},
			"Progressing": {metav1.ConditionTrue, ReasonReconcileError},
		}, "Reconciling the Deployment failed (Forbidden)"},
		{"phase error that is not an API error", func(o *observation) {
			o.Failure = &failure{Phase: "Service"}
			o.Deployment = deployment("img:v2", 2, 2, 2, true)
		}, map[string]wantCondition{"Ready": {metav1.ConditionFalse, ReasonReconcileError}},
			"Reconciling the Service failed; the spec is not applied yet"},
		{"no deployment yet", func(o *observation) {
			o.Migration = migration{Phase: MigrationSucceeded, Job: "j", Image: "img:v2"}
		}, map[string]wantCondition{
			"Ready":     {metav1.ConditionFalse, ReasonRollingOut},
			"Available": {metav1.ConditionFalse, ReasonDeploymentNotFound},
		}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := base
			tt.obs(&o)
			st := computeStatus(appsv1alpha1.UserServiceStatus{}, o)
			if st.ObservedGeneration != 7 {
				t.Errorf("observedGeneration = %d, want 7", st.ObservedGeneration)
			}
			for typ, w := range tt.want {
				c := meta.FindStatusCondition(st.Conditions, typ)
				if c == nil {
					t.Fatalf("condition %s missing", typ)
				}
				if c.Status != w.status || c.Reason != w.reason || c.ObservedGeneration != 7 {
					t.Errorf("%s = %s/%s gen %d, want %s/%s gen 7", typ, c.Status, c.Reason, c.ObservedGeneration, w.status, w.reason)
				}
			}
			for from, to := range map[string]string{"Progressing": "Reconciling", "Degraded": "Stalled"} {
				f, m := meta.FindStatusCondition(st.Conditions, from), meta.FindStatusCondition(st.Conditions, to)
				if m == nil || m.Status != f.Status || m.Reason != f.Reason || m.ObservedGeneration != f.ObservedGeneration {
					t.Errorf("%s = %+v, want a mirror of %s = %+v", to, m, from, f)
				}
			}
			if r := meta.FindStatusCondition(st.Conditions, "Ready"); !strings.Contains(r.Message, tt.wantMessage) {
				t.Errorf("Ready message %q does not contain %q", r.Message, tt.wantMessage)
			}
		})
	}
}

func TestComputeStatusMigrationFields(t *testing.T) {
	o := observation{Generation: 1, DesiredImage: "img:v2",
		Migration: migration{Phase: MigrationRunning, Job: "users-migrate-new", Image: "img:v2"}}
	old := appsv1alpha1.UserServiceStatus{MigratedImage: "img:v1", MigrationJob: "users-migrate-old"}
	st := computeStatus(old, o)
	if st.MigratedImage != "img:v1" || st.MigrationJob != "users-migrate-new" {
		t.Errorf("running: migratedImage %q, migrationJob %q; want img:v1, users-migrate-new", st.MigratedImage, st.MigrationJob)
	}
	o.Migration.Phase = MigrationSucceeded
	st = computeStatus(old, o)
	if st.MigratedImage != "img:v2" {
		t.Errorf("succeeded: migratedImage %q, want img:v2", st.MigratedImage)
	}
}

func TestComputeStatusKeepsTransitionTimes(t *testing.T) {
	o := observation{Generation: 1, DesiredImage: "img", Migration: migration{Phase: MigrationDisabled},
		Deployment: deployment("img", 1, 1, 1, true)}
	first := computeStatus(appsv1alpha1.UserServiceStatus{}, o)
	past := metav1.NewTime(time.Now().Add(-time.Hour).Truncate(time.Second))
	for i := range first.Conditions {
		first.Conditions[i].LastTransitionTime = past
	}
	o.Generation = 2
	second := computeStatus(first, o)
	for _, c := range second.Conditions {
		if !c.LastTransitionTime.Equal(&past) || c.ObservedGeneration != 2 {
			t.Errorf("%s: lastTransitionTime %v gen %d; want unchanged time and gen 2", c.Type, c.LastTransitionTime, c.ObservedGeneration)
		}
	}
	if again := computeStatus(second, o); !equality.Semantic.DeepEqual(again, second) {
		t.Error("computing the status twice from the same observation changed it")
	}
}

func TestComputeStatusPaused(t *testing.T) {
	o := observation{Generation: 1, DesiredImage: "img", Migration: migration{Phase: MigrationDisabled},
		Deployment: deployment("img", 1, 1, 1, true)}
	running := computeStatus(appsv1alpha1.UserServiceStatus{}, o)
	paused := computeStatus(running, observation{Generation: 2, Paused: true})
	if paused.ObservedGeneration != 2 {
		t.Errorf("observedGeneration = %d, want 2", paused.ObservedGeneration)
	}
	p := meta.FindStatusCondition(paused.Conditions, "Progressing")
	if p.Status != metav1.ConditionFalse || p.Reason != ReasonPaused || p.ObservedGeneration != 2 {
		t.Errorf("Progressing = %+v, want False/Paused at generation 2", p)
	}
	if r := meta.FindStatusCondition(paused.Conditions, "Ready"); r.ObservedGeneration != 1 {
		t.Errorf("Ready observedGeneration = %d, want 1: a paused spec is not reconciled", r.ObservedGeneration)
	}
}

func TestMigrationRecorded(t *testing.T) {
	m := migration{Phase: MigrationSucceeded, Job: "users-migrate-new", Image: "img:v2"}
	progressing := func(reason string) []metav1.Condition {
		return []metav1.Condition{{Type: appsv1alpha1.ConditionProgressing, Status: metav1.ConditionTrue, Reason: reason}}
	}
	for _, tc := range []struct {
		name string
		old  appsv1alpha1.UserServiceStatus
		want bool
	}{
		{"nothing recorded yet", appsv1alpha1.UserServiceStatus{}, false},
		{"another image migrated", appsv1alpha1.UserServiceStatus{MigratedImage: "img:v1", MigrationJob: "users-migrate-new"}, false},
		{"the Job was recorded running", appsv1alpha1.UserServiceStatus{MigratedImage: "img:v2", MigrationJob: "users-migrate-new",
			Conditions: progressing(ReasonMigrating)}, false},
		{"another Job for the same image", appsv1alpha1.UserServiceStatus{MigratedImage: "img:v2", MigrationJob: "users-migrate-old",
			Conditions: progressing(ReasonRollingOut)}, false},
		{"already recorded", appsv1alpha1.UserServiceStatus{MigratedImage: "img:v2", MigrationJob: "users-migrate-new",
			Conditions: progressing(ReasonRollingOut)}, true},
	} {
		if got := migrationRecorded(tc.old, m); got != tc.want {
			t.Errorf("%s: migrationRecorded = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestInvalidSpecMessage(t *testing.T) {
	invalid := func(detail string) error {
		return fmt.Errorf("creating migration Job %q: %w", "users-migrate-1", apierrors.NewInvalid(
			schema.GroupKind{Group: "batch", Kind: "Job"}, "users-migrate-1",
			field.ErrorList{field.Invalid(field.NewPath("spec", "template", "spec", "x"), detail, "must be short")}))
	}
	msg := invalidSpecMessage("migration", invalid("v"))
	for _, want := range []string{"Reconciling the migration failed", `Job.batch "users-migrate-1" is invalid`,
		"spec.template.spec.x", "Fix the spec"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q lacks %q", msg, want)
		}
	}
	if strings.Contains(msg, "creating migration Job") {
		t.Errorf("message %q quotes the operator's wrapping instead of the API server's message", msg)
	}
	if msg != invalidSpecMessage("migration", invalid("v")) {
		t.Error("the same error gives different messages")
	}
	if long := invalidSpecMessage("migration", invalid(strings.Repeat("é", 2000))); len(long) > maxInvalidDetail+300 ||
		!utf8.ValidString(long) {
		t.Errorf("a long API message gives %d bytes (valid UTF-8: %v), want it cut to about %d", len(long),
			utf8.ValidString(long), maxInvalidDetail)
	}
}
