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
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestHolds checks the drift test that lets an idle reconcile skip the apply:
// fields others add are ignored, a changed or missing field we set is drift.
func TestHolds(t *testing.T) {
	desired := map[string]any{
		"apiVersion": "v1", "kind": "Service",
		"metadata": map[string]any{"name": "users", "labels": map[string]any{"a": "1"}},
		"spec":     map[string]any{"ports": []any{map[string]any{"name": "http", "port": int64(80)}}},
	}
	live := func(mutate func(*corev1.Service)) *corev1.Service {
		s := &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: "users", Labels: map[string]string{"a": "1"}, ResourceVersion: "9"},
			Spec: corev1.ServiceSpec{ClusterIP: "10.0.0.1", Ports: []corev1.ServicePort{
				{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP}}},
		}
		if mutate != nil {
			mutate(s)
		}
		return s
	}
	tests := []struct {
		name   string
		mutate func(*corev1.Service)
		want   bool
	}{
		{"server defaults and other fields", nil, true},
		{"label added by someone else", func(s *corev1.Service) { s.Labels["b"] = "2" }, true},
		{"label we set changed", func(s *corev1.Service) { s.Labels["a"] = "x" }, false},
		{"port changed", func(s *corev1.Service) { s.Spec.Ports[0].Port = 81 }, false},
		{"port added", func(s *corev1.Service) { s.Spec.Ports = append(s.Spec.Ports, corev1.ServicePort{Port: 90}) }, false},
		{"ports removed", func(s *corev1.Service) { s.Spec.Ports = nil }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := holds(live(tt.mutate), desired); got != tt.want {
				t.Errorf("holds = %v, want %v", got, tt.want)
			}
		})
	}
}
