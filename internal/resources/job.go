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
package resources

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	appsv1alpha1 "github.com/userservice-dev/userservice-operator/api/v1alpha1"
)

// MigrationSucceededTTLSeconds is the ttlSecondsAfterFinished a migration Job is created with;
// the operator removes it from a Job that failed, so that failed Jobs are kept for their logs.
const MigrationSucceededTTLSeconds = 3600

// MigrationJobName returns the name of the migration Job for image.
func MigrationJobName(us *appsv1alpha1.UserService, image string) string {
	return MigrationJob(us, image).Name
}

// MigrationJob returns the Job that runs `user-service migrate up` with image,
// the Deployment's env without JWT_SECRET (see MigrationEnv), the same security
// context, and no retries beyond spec.migrations.backoffLimit. Its pods do
// not match the Service's selector. It is named <name>-migrate-<hash of its
// whole spec>: a Job's pod template cannot be updated, so any change to what
// the Job runs or how (image, env, pull secrets, scheduling, resources,
// limits) yields a new Job. The JWT Secret is not part of it. The Job is
// deleted MigrationSucceededTTLSeconds after it finishes; that TTL is set
// after hashing, so that it is no part of the name.
func MigrationJob(us *appsv1alpha1.UserService, image string) *batchv1.Job {
	m := us.Spec.Migrations
	spec := podSpec(us, container(us, image, MigrationEnv(us), "migrate", "up"))
	spec.RestartPolicy = corev1.RestartPolicyNever
	jobSpec := batchv1.JobSpec{
		BackoffLimit:          ptr.To(backoffLimit(m)),
		ActiveDeadlineSeconds: ptr.To(activeDeadline(m)),
		Template: corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{
				LabelInstance:  us.Name,
				LabelManagedBy: ManagedBy,
				LabelComponent: "migration",
			}},
			Spec: spec,
		},
	}
	meta := objectMeta(us, us.Name+"-migrate-"+specHash(jobSpec), image)
	jobSpec.TTLSecondsAfterFinished = ptr.To[int32](MigrationSucceededTTLSeconds)
	meta.Labels[LabelComponent] = "migration"
	meta.Annotations = map[string]string{AnnotationImage: image}
	return &batchv1.Job{
		TypeMeta:   metav1.TypeMeta{APIVersion: "batch/v1", Kind: "Job"},
		ObjectMeta: meta,
		Spec:       jobSpec,
	}
}

// specHash returns the first 10 hex digits of the SHA-256 of spec's JSON
// encoding, which is deterministic: struct fields keep their order and map keys are sorted.
func specHash(spec any) string {
	b, err := json.Marshal(spec)
	if err != nil {
		panic(fmt.Sprintf("encoding %T for its hash: %v", spec, err)) // Built API types always encode.
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])[:10]
}

// MigrationsEnabled reports whether spec.migrations.enabled, defaulted, is true.
func MigrationsEnabled(us *appsv1alpha1.UserService) bool {
	return ptr.Deref(us.Spec.Migrations.Enabled, appsv1alpha1.DefaultMigrationsEnabled)
}

// backoffLimit returns spec.migrations.backoffLimit, defaulted.
func backoffLimit(m appsv1alpha1.MigrationsSpec) int32 {
	return ptr.Deref(m.BackoffLimit, appsv1alpha1.DefaultMigrationBackoffLimit)
}

// activeDeadline returns spec.migrations.activeDeadlineSeconds, defaulted.
func activeDeadline(m appsv1alpha1.MigrationsSpec) int64 {
	return ptr.Deref(m.ActiveDeadlineSeconds, appsv1alpha1.DefaultMigrationActiveDeadlineSeconds)
}
