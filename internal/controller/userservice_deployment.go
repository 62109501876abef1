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
	"context"
	"encoding/json"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	appsv1alpha1 "github.com/userservice-dev/userservice-operator/api/v1alpha1"
	"github.com/userservice-dev/userservice-operator/internal/resources"
)

// replicasHandOffOwner is the field manager that keeps spec.replicas while the HPA takes it over.
const replicasHandOffOwner = "userservice-operator-replicas-handoff"

// reconcileDeployment applies the Deployment running s.servingImage with
// s.inputs. Before the first migration has succeeded there is no image to
// serve, so no Deployment.
func (r *UserServiceReconciler) reconcileDeployment(ctx context.Context, s *state) (bool, error) {
	if s.servingImage == "" {
		return false, nil
	}
	desired := resources.Deployment(s.us, s.servingImage, s.inputs)
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
		if json.Unmarshal(mf.FieldsV1.GetRawBytes(), &fields) == nil {
			if _, ok := fields["f:spec"]["f:replicas"]; ok {
				return true
			}
		}
	}
	return false
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
