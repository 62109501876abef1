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
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/userservice-dev/userservice-operator/internal/resources"
)

// ParseNamespaces splits the comma-separated --watch-namespaces value,
// dropping blanks; an empty result means all namespaces.
func ParseNamespaces(s string) []string {
	var out []string
	for ns := range strings.SplitSeq(s, ",") {
		if ns = strings.TrimSpace(ns); ns != "" {
			out = append(out, ns)
		}
	}
	return out
}

// defaultNamespaces turns a namespace list into cache.Options.DefaultNamespaces (nil = all namespaces).
func defaultNamespaces(namespaces []string) map[string]cache.Config {
	if len(namespaces) == 0 {
		return nil
	}
	m := make(map[string]cache.Config, len(namespaces))
	for _, ns := range namespaces {
		m[ns] = cache.Config{}
	}
	return m
}

// CacheOptions returns the manager's cache options. Jobs and the other
// children are cached only when labelled managed-by=userservice-operator, and
// managedFields are stripped from every cached object. No Secret is cached at
// all, not even the operator's own: anyone who may create Secrets can set
// that label, and the operator reads the few Secrets it uses by name (see
// referencedSecrets). A read of a kind without an informer fails instead of
// quietly starting one, which for Secrets would list every Secret in the cluster.
func CacheOptions(namespaces []string) cache.Options {
	owned := cache.ByObject{Label: ownedSelector()}
	return cache.Options{
		DefaultNamespaces:           defaultNamespaces(namespaces),
		DefaultTransform:            cache.TransformStripManagedFields(),
		ReaderFailOnMissingInformer: true,
		ByObject: map[client.Object]cache.ByObject{
			&batchv1.Job{}:                           owned,
			&appsv1.Deployment{}:                     owned,
			&corev1.Service{}:                        owned,
			&policyv1.PodDisruptionBudget{}:          owned,
			&autoscalingv2.HorizontalPodAutoscaler{}: owned,
			&networkingv1.NetworkPolicy{}:            owned,
		},
	}
}

// ServiceMonitorCacheOptions returns the options of the cache of
// ServiceMonitors, which runs only while their CRD is installed: like the
// manager's, it holds only objects labelled as the operator's, in the
// watched namespaces, without managedFields, and starts no other informer.
func ServiceMonitorCacheOptions(namespaces []string) cache.Options {
	return cache.Options{
		DefaultNamespaces:           defaultNamespaces(namespaces),
		DefaultLabelSelector:        ownedSelector(),
		DefaultTransform:            cache.TransformStripManagedFields(),
		ReaderFailOnMissingInformer: true,
	}
}

// ownedSelector selects the objects labelled managed-by=userservice-operator.
func ownedSelector() labels.Selector {
	return labels.SelectorFromSet(labels.Set{resources.LabelManagedBy: resources.ManagedBy})
}
