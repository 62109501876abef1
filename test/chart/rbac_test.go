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
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// sensitiveVerbs are verbs that let a subject gain more power than its own rules.
var sensitiveVerbs = []string{"escalate", "bind", "impersonate", "*"}

// secretWritesClusterWide are the Secret verbs the operator may hold cluster-wide:
// it creates the generated JWT Secret <name>-jwt once and never updates or
// deletes a Secret (owner references let the garbage collector delete it).
var secretWritesClusterWide = []string{"create"}

// readVerbs do not change anything.
var readVerbs = []string{"get", "list", "watch"}

// controllerGenRules runs controller-gen on the +kubebuilder:rbac markers into
// a temporary directory and returns the rules it declares, so that the chart
// is compared with the markers themselves, not with a copy of their output.
func controllerGenRules(t *testing.T) []rbacv1.PolicyRule {
	t.Helper()
	gen := requireBinary(t, filepath.Join(repoRoot(t), "bin", "controller-gen"), "run `make controller-gen`")
	dir := t.TempDir()
	cmd := exec.Command(gen, "rbac:roleName=manager-role", "paths=./internal/controller/...", "output:rbac:dir="+dir)
	cmd.Dir = repoRoot(t)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("controller-gen: %v\n%s", err, out)
	}
	b, err := os.ReadFile(filepath.Join(dir, "role.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var role rbacv1.ClusterRole
	if err := yaml.Unmarshal(b, &role); err != nil {
		t.Fatal(err)
	}
	return normalise(role.Rules)
}

// roles returns every Role and ClusterRole among objs.
func roles(objs []*unstructured.Unstructured) []*unstructured.Unstructured {
	return append(find(objs, "ClusterRole", ""), find(objs, "Role", "")...)
}

// operatorRoles returns the Roles and ClusterRoles that a binding among objs
// grants to the operator's ServiceAccount: everything the operator can do.
func operatorRoles(t *testing.T, objs []*unstructured.Unstructured, sa string) []*unstructured.Unstructured {
	t.Helper()
	var out []*unstructured.Unstructured
	for _, b := range append(find(objs, "ClusterRoleBinding", ""), find(objs, "RoleBinding", "")...) {
		var rb rbacv1.RoleBinding
		into(t, b, &rb)
		if !slices.ContainsFunc(rb.Subjects,
			func(s rbacv1.Subject) bool { return s.Kind == "ServiceAccount" && s.Name == sa }) {
			continue
		}
		for _, r := range find(objs, rb.RoleRef.Kind, rb.RoleRef.Name) {
			if r.GetName() == rb.RoleRef.Name && (r.GetKind() == "ClusterRole" || r.GetNamespace() == rb.Namespace) {
				out = append(out, r)
			}
		}
	}
	if len(out) == 0 {
		t.Fatalf("no role is bound to the ServiceAccount %q", sa)
	}
	return out
}

// TestRBACNotExcessive checks, for the cluster-wide and the namespaced
// install, that the manager's rules are exactly what the markers declare,
// that no rule granted to the operator uses a wildcard or a privilege-escalating verb, that Secrets
// are written cluster-wide only as the operator needs, and that the namespaced
// install grants nothing on workloads or Secrets cluster-wide.
func TestRBACNotExcessive(t *testing.T) {
	markers := controllerGenRules(t)
	for name, values := range map[string]string{"cluster-wide": "", "namespaced": nonDefaultValues} {
		t.Run(name, func(t *testing.T) {
			objs := mustTemplate(t, "userservice-system", values)
			managerRoles := append(find(objs, "ClusterRole", "-manager"), find(objs, "Role", "-manager")...)
			if len(managerRoles) == 0 {
				t.Fatal("no manager Role or ClusterRole rendered")
			}
			for _, r := range managerRoles {
				if d := diff(markers, rulesOf(t, r)); d != "" {
					t.Errorf("%s %s/%s rules differ from the +kubebuilder:rbac markers (-markers +chart):\n%s", r.GetKind(),
						r.GetNamespace(), r.GetName(), d)
				}
			}
			for _, r := range operatorRoles(t, objs, "userservice-operator") {
				checkNoWildcards(t, r, rulesOf(t, r))
				if r.GetKind() == "ClusterRole" {
					checkClusterSecrets(t, r.GetName(), rulesOf(t, r), values != "")
				}
			}
		})
	}
}

// checkNoWildcards fails for a "*" in any list of a rule and for verbs that escalate privileges.
func checkNoWildcards(t *testing.T, r *unstructured.Unstructured, rules []rbacv1.PolicyRule) {
	t.Helper()
	for _, rule := range rules {
		for _, l := range [][]string{rule.APIGroups, rule.Resources, rule.Verbs, rule.NonResourceURLs} {
			if slices.Contains(l, "*") {
				t.Errorf("%s %s grants a wildcard: %s", r.GetKind(), r.GetName(), rule.String())
			}
		}
		for _, v := range rule.Verbs {
			if slices.Contains(sensitiveVerbs, v) {
				t.Errorf("%s %s grants the privilege-escalating verb %q: %s", r.GetKind(), r.GetName(), v, rule.String())
			}
		}
		if slices.Contains(rule.APIGroups, rbacv1.GroupName) {
			t.Errorf("%s %s grants access to RBAC objects: %s", r.GetKind(), r.GetName(), rule.String())
		}
	}
}

// checkClusterSecrets checks the Secret verbs of a ClusterRole: only reads and
// the writes the operator needs cluster-wide; none at all in namespaced mode,
// and no workloads either, since namespaced mode grants those per namespace.
func checkClusterSecrets(t *testing.T, name string, rules []rbacv1.PolicyRule, namespaced bool) {
	t.Helper()
	for _, rule := range rules {
		if !slices.Contains(rule.APIGroups, "") && !slices.Contains(rule.APIGroups, "apps") &&
			!slices.Contains(rule.APIGroups, "batch") {
			continue
		}
		if namespaced {
			t.Errorf("namespaced install: ClusterRole %s grants %s cluster-wide", name, rule.String())
			continue
		}
		if !slices.Contains(rule.Resources, "secrets") {
			continue
		}
		for _, v := range rule.Verbs {
			if !slices.Contains(readVerbs, v) && !slices.Contains(secretWritesClusterWide, v) {
				t.Errorf("ClusterRole %s lets the operator %q Secrets in every namespace; it only needs %v", name, v,
					secretWritesClusterWide)
			}
		}
	}
}

// TestRBACOtherRolesAreNarrow pins the non-manager roles to what they are for.
func TestRBACOtherRolesAreNarrow(t *testing.T) {
	objs := mustTemplate(t, "userservice-system", "")
	want := map[string][]rbacv1.PolicyRule{
		"-leader-election": normalise([]rbacv1.PolicyRule{
			{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"},
				Verbs: []string{"get", "list", "watch", "create", "update", "patch", "delete"}},
			{APIGroups: []string{"", "events.k8s.io"}, Resources: []string{"events"}, Verbs: []string{"create", "patch"}},
		}),
		"-metrics-auth": normalise([]rbacv1.PolicyRule{
			{APIGroups: []string{"authentication.k8s.io"}, Resources: []string{"tokenreviews"}, Verbs: []string{"create"}},
			{APIGroups: []string{"authorization.k8s.io"}, Resources: []string{"subjectaccessreviews"},
				Verbs: []string{"create"}},
		}),
		"-metrics-reader": {{NonResourceURLs: []string{"/metrics"}, Verbs: []string{"get"}}},
	}
	for suffix, rules := range want {
		r := roles(objs)
		idx := slices.IndexFunc(r, func(o *unstructured.Unstructured) bool {
			return len(o.GetName()) > len(suffix) && o.GetName()[len(o.GetName())-len(suffix):] == suffix
		})
		if idx < 0 {
			t.Errorf("no role named *%s", suffix)
			continue
		}
		if d := diff(rules, rulesOf(t, r[idx])); d != "" {
			t.Errorf("role *%s rules (-want +got):\n%s", suffix, d)
		}
		if suffix == "-leader-election" && (r[idx].GetKind() != "Role" || r[idx].GetNamespace() != "userservice-system") {
			t.Errorf("leader election must be a Role in the release namespace, got %s in %q",
				r[idx].GetKind(), r[idx].GetNamespace())
		}
	}
	for _, suffix := range []string{"-userservice-admin", "-userservice-editor", "-userservice-viewer"} {
		for _, rule := range rulesOf(t, one(t, objs, "ClusterRole", suffix)) {
			if !slices.Equal(rule.APIGroups, []string{"apps.userservice.dev"}) {
				t.Errorf("user role *%s reaches beyond apps.userservice.dev: %s", suffix, rule.String())
			}
		}
	}
}

// TestManagerRoleIsLeastPrivilege pins the verbs the +kubebuilder:rbac markers
// grant to the ones the reconciler calls: a verb added without a use fails here.
func TestManagerRoleIsLeastPrivilege(t *testing.T) {
	want := map[string]string{
		"apps.userservice.dev/userservices":            "get,list,watch",
		"apps.userservice.dev/userservices/status":     "patch",
		"apps.userservice.dev/userservices/finalizers": "update",
		"/secrets":                              "create,get,list,watch",
		"/services":                             "create,get,list,patch,watch",
		"apps/deployments":                      "create,get,list,patch,watch",
		"batch/jobs":                            "create,delete,get,list,patch,watch",
		"policy/poddisruptionbudgets":           "create,delete,get,list,patch,watch",
		"autoscaling/horizontalpodautoscalers":  "create,delete,get,list,patch,watch",
		"networking.k8s.io/networkpolicies":     "create,delete,get,list,patch,watch",
		"monitoring.coreos.com/servicemonitors": "create,delete,get,list,patch,watch",
		"events.k8s.io/events":                  "create,patch",
	}
	got := map[string][]string{}
	for _, r := range controllerGenRules(t) {
		for _, g := range r.APIGroups {
			for _, res := range r.Resources {
				got[g+"/"+res] = append(got[g+"/"+res], r.Verbs...)
			}
		}
	}
	for k, verbs := range got {
		slices.Sort(verbs)
		if s := strings.Join(slices.Compact(verbs), ","); s != want[k] {
			t.Errorf("%s: markers grant %q, want %q", k, s, want[k])
		}
	}
	for k := range want {
		if _, ok := got[k]; !ok {
			t.Errorf("%s: no marker grants it, want %q", k, want[k])
		}
	}
}
