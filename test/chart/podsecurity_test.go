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

package chart

import (
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestPodSecurityRestricted creates the operator pod, as the chart and
// kustomize define it, in a namespace that enforces the restricted Pod
// Security Standard; the API server's PodSecurity admission must accept both.
// A pod with the security context removed is the control: it must be refused,
// proving that enforcement is on.
func TestPodSecurityRestricted(t *testing.T) {
	c := startCluster(t)
	const ns = "pod-security-restricted"
	nsObj := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: map[string]string{
		"pod-security.kubernetes.io/enforce":         "restricted",
		"pod-security.kubernetes.io/enforce-version": "latest",
	}}}
	if _, err := c.clientset.CoreV1().Namespaces().Create(t.Context(), nsObj, metav1.CreateOptions{}); err != nil &&
		!apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	var chartDep, kustomizeDep appsv1.Deployment
	into(t, one(t, mustTemplate(t, ns, nonDefaultValues), "Deployment", ""), &chartDep)
	into(t, one(t, kustomizeBuild(t), "Deployment", ""), &kustomizeDep)
	insecure := chartDep.Spec.Template.Spec.DeepCopy()
	insecure.SecurityContext, insecure.Containers[0].SecurityContext = nil, nil
	for _, tc := range []struct {
		name    string
		spec    corev1.PodSpec
		allowed bool
	}{
		{"chart", chartDep.Spec.Template.Spec, true},
		{"kustomize", kustomizeDep.Spec.Template.Spec, true},
		{"control-without-security-context", *insecure, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := *tc.spec.DeepCopy()
			spec.ServiceAccountName = "" // the pod only has to pass admission, not run
			spec.AutomountServiceAccountToken = new(bool)
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: tc.name, Namespace: ns}, Spec: spec}
			_, err := c.clientset.CoreV1().Pods(ns).Create(t.Context(), pod,
				metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
			switch {
			case tc.allowed && err != nil:
				t.Fatalf("restricted namespace refused the %s pod: %v", tc.name, err)
			case !tc.allowed && (err == nil || !strings.Contains(err.Error(), "violates PodSecurity")):
				t.Fatalf("restricted namespace accepted a pod without a security context (err = %v); "+
					"is PodSecurity admission on?", err)
			}
		})
	}
}
