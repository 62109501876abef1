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
	"slices"
	"testing"
)

func TestParseNamespaces(t *testing.T) {
	tests := map[string][]string{
		"":         nil,
		" , ":      nil,
		"a":        {"a"},
		"a, b ,,c": {"a", "b", "c"},
	}
	for in, want := range tests {
		if got := ParseNamespaces(in); !slices.Equal(got, want) {
			t.Errorf("ParseNamespaces(%q) = %q, want %q", in, got, want)
		}
	}
	if m := defaultNamespaces([]string{"a", "b"}); len(m) != 2 {
		t.Errorf("defaultNamespaces = %v, want 2 entries", m)
	}
	if m := defaultNamespaces(nil); m != nil {
		t.Errorf("defaultNamespaces(nil) = %v, want nil (all namespaces)", m)
	}
}

func TestCacheOptions(t *testing.T) {
	o := CacheOptions([]string{"team-a", "team-b"})
	if _, ok := o.DefaultNamespaces["team-a"]; !ok || len(o.DefaultNamespaces) != 2 {
		t.Errorf("DefaultNamespaces = %v, want team-a and team-b", o.DefaultNamespaces)
	}
	if o.DefaultTransform == nil {
		t.Error("DefaultTransform is nil, want managedFields stripped")
	}
	kinds := map[string]bool{}
	for obj, by := range o.ByObject {
		kind := fmt.Sprintf("%T", obj)
		kinds[kind] = true
		if got := by.Label.String(); got != "app.kubernetes.io/managed-by=userservice-operator" {
			t.Errorf("%s label selector = %q, want the managed-by label", kind, got)
		}
	}
	for _, k := range []string{"*v1.Job", "*v1.Deployment", "*v1.Service"} {
		if !kinds[k] {
			t.Errorf("ByObject has no entry for %s", k)
		}
	}
	if kinds["*v1.Secret"] || !o.ReaderFailOnMissingInformer {
		t.Errorf("Secrets in ByObject: %v, ReaderFailOnMissingInformer: %v; want no Secret informer, and reads "+
			"of a kind without one to fail rather than start one", kinds["*v1.Secret"], o.ReaderFailOnMissingInformer)
	}
	if all := CacheOptions(nil); all.DefaultNamespaces != nil {
		t.Errorf("DefaultNamespaces = %v, want nil (all namespaces)", all.DefaultNamespaces)
	}
}
