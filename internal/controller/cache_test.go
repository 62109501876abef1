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
