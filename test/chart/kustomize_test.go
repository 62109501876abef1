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
	"sort"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// kustomizeNamespace is the namespace config/default installs into.
const kustomizeNamespace = "userservice-operator-system"

// kustomizeBuild renders config/default with kubectl's built-in kustomize.
func kustomizeBuild(t *testing.T) []*unstructured.Unstructured {
	t.Helper()
	out, err := run(repoRoot(t), kubectlBin(t), "kustomize", "config/default")
	if err != nil {
		t.Fatal(err)
	}
	objs, err := decodeObjects(out)
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

// TestKustomizeDryRun applies config/default with a server-side dry run
// against a real API server, which validates every object against its schema
// and admission. The namespace is created for real first: a dry run creates
// nothing, so the namespaced objects would otherwise find no namespace.
func TestKustomizeDryRun(t *testing.T) {
	c := startCluster(t)
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: kustomizeNamespace}}
	if _, err := c.clientset.CoreV1().Namespaces().Create(t.Context(), ns, metav1.CreateOptions{}); err != nil &&
		!apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	out, err := c.kubectl(t, "apply", "--dry-run=server", "-k", "config/default")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"customresourcedefinition.apiextensions.k8s.io/userservices.apps.userservice.dev",
		"serviceaccount/userservice-operator-controller-manager",
		"role.rbac.authorization.k8s.io/userservice-operator-leader-election-role",
		"clusterrole.rbac.authorization.k8s.io/userservice-operator-manager-role",
		"clusterrolebinding.rbac.authorization.k8s.io/userservice-operator-manager-rolebinding",
		"service/userservice-operator-controller-manager-metrics-service",
		"deployment.apps/userservice-operator-controller-manager",
	} {
		if !strings.Contains(out, want+" ") || !strings.Contains(out, "(server dry run)") {
			t.Errorf("kubectl apply --dry-run=server output lacks %q:\n%s", want, out)
		}
	}
}

// rulesOf returns the normalised rules of the Role or ClusterRole o.
func rulesOf(t *testing.T, o *unstructured.Unstructured) []rbacv1.PolicyRule {
	t.Helper()
	var r rbacv1.ClusterRole
	into(t, o, &r)
	return normalise(r.Rules)
}

// normalise sorts every list in the rules, and the rules, so that equal
// grants compare equal whatever order they were written in.
func normalise(rules []rbacv1.PolicyRule) []rbacv1.PolicyRule {
	out := make([]rbacv1.PolicyRule, 0, len(rules))
	for _, r := range rules {
		r = *r.DeepCopy()
		for _, l := range [][]string{r.APIGroups, r.Resources, r.Verbs, r.ResourceNames, r.NonResourceURLs} {
			sort.Strings(l)
		}
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out
}

// TestKustomizeMatchesChart checks that config/default installs the same
// operator as the chart's defaults: same RBAC rules, arguments, probes,
// security context and resources.
func TestKustomizeMatchesChart(t *testing.T) {
	k, h := kustomizeBuild(t), mustTemplate(t, kustomizeNamespace, "")
	pairs := []struct{ kind, kustomize, helm string }{
		{"ClusterRole", "-manager-role", "-manager"},
		{"Role", "-leader-election-role", "-leader-election"},
		{"ClusterRole", "-metrics-auth-role", "-metrics-auth"},
		{"ClusterRole", "-metrics-reader", "-metrics-reader"},
		{"ClusterRole", "-userservice-admin-role", "-userservice-admin"},
		{"ClusterRole", "-userservice-editor-role", "-userservice-editor"},
		{"ClusterRole", "-userservice-viewer-role", "-userservice-viewer"},
	}
	for _, p := range pairs {
		if d := diff(rulesOf(t, one(t, k, p.kind, p.kustomize)), rulesOf(t, one(t, h, p.kind, p.helm))); d != "" {
			t.Errorf("%s rules differ between kustomize *%s and the chart *%s (-kustomize +chart):\n%s",
				p.kind, p.kustomize, p.helm, d)
		}
	}
	var kd, hd appsv1.Deployment
	into(t, one(t, k, "Deployment", ""), &kd)
	into(t, one(t, h, "Deployment", ""), &hd)
	kc, hc := kd.Spec.Template.Spec.Containers[0], hd.Spec.Template.Spec.Containers[0]
	checkRestricted(t, kd.Spec.Template.Spec)
	kargs, hargs := slices.Sorted(slices.Values(kc.Args)), slices.Sorted(slices.Values(hc.Args))
	// config/default, as kubebuilder's, has the metrics server sign its own certificate and ships no
	// ServiceMonitor to verify one; the chart's generated certificate has no kustomize counterpart.
	hargs = slices.DeleteFunc(hargs, func(a string) bool {
		return a == "--zap-log-level=info" || strings.HasPrefix(a, "--metrics-cert-path=")
	})
	for name, d := range map[string]string{
		"args":                  diff(kargs, hargs),
		"image":                 diff(kc.Image, hc.Image),
		"command":               diff(kc.Command, hc.Command),
		"resources":             diff(kc.Resources, hc.Resources),
		"pod securityContext":   diff(kd.Spec.Template.Spec.SecurityContext, hd.Spec.Template.Spec.SecurityContext),
		"container securityCtx": diff(kc.SecurityContext, hc.SecurityContext),
		"liveness path":         diff(kc.LivenessProbe.HTTPGet.Path, hc.LivenessProbe.HTTPGet.Path),
		"readiness path":        diff(kc.ReadinessProbe.HTTPGet.Path, hc.ReadinessProbe.HTTPGet.Path),
	} {
		if d != "" {
			t.Errorf("manager %s differ between kustomize and the chart (-kustomize +chart):\n%s", name, d)
		}
	}
}

// TestBuildInstaller runs the script behind `make build-installer` with a
// custom image, checks the single-file installer, and applies it with a
// server-side dry run.
func TestBuildInstaller(t *testing.T) {
	const img = "registry.example.com/team/userservice-operator:v0.1.0-rc1"
	c := startCluster(t)
	out := filepath.Join(t.TempDir(), "install.yaml")
	cmd := exec.Command("hack/build-installer.sh", img, out)
	cmd.Dir = repoRoot(t)
	cmd.Env = append(os.Environ(), "KUBECTL="+kubectlBin(t))
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("hack/build-installer.sh: %v\n%s", err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	objs, err := decodeObjects(string(b))
	if err != nil {
		t.Fatal(err)
	}
	one(t, objs, "CustomResourceDefinition", "userservices.apps.userservice.dev")
	var d appsv1.Deployment
	into(t, one(t, objs, "Deployment", ""), &d)
	if got := d.Spec.Template.Spec.Containers[0].Image; got != img {
		t.Errorf("installer image = %q, want the IMG passed in", got)
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: kustomizeNamespace}}
	if _, err := c.clientset.CoreV1().Namespaces().Create(t.Context(), ns, metav1.CreateOptions{}); err != nil &&
		!apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	if _, err := c.kubectl(t, "apply", "--dry-run=server", "-f", out); err != nil {
		t.Fatal(err)
	}
}

// TestHelmInstall installs the chart with helm into the envtest API server and
// checks that its NOTES tell how to create a first UserService with a manifest
// that the real CRD accepts.
func TestHelmInstall(t *testing.T) {
	c := startCluster(t)
	out, err := run(repoRoot(t), helmBin(t), "install", "notes-check", chartDir(t), "--kubeconfig", c.kubeconfig,
		"--namespace", "helm-install", "--create-namespace", "--set", "replicas=2",
		"--set", "allowedSecretLabel=userservice.dev/allowed")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "STATUS: deployed") ||
		!strings.Contains(out, "kubectl wait userservice/users --for=condition=Ready") {
		t.Fatalf("helm install output lacks the deployed status or the NOTES:\n%s", out)
	}
	if !strings.Contains(out, "kubectl label secret users-db userservice.dev/allowed=true") {
		t.Errorf("with allowedSecretLabel, the NOTES do not say to label the database Secret:\n%s", out)
	}
	manifest := notesManifest(t, out)
	path := filepath.Join(t.TempDir(), "userservice.yaml")
	if err := os.WriteFile(path, []byte(manifest), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := c.kubectl(t, "apply", "--dry-run=server", "--namespace", "helm-install", "-f", path); err != nil {
		t.Fatalf("the NOTES' UserService is refused by the CRD: %v\n%s", err, manifest)
	}
}

// notesManifest extracts the UserService manifest of the NOTES heredoc.
func notesManifest(t *testing.T, out string) string {
	t.Helper()
	_, rest, ok := strings.Cut(out, "<<'YAML'\n")
	if !ok {
		t.Fatalf("NOTES have no UserService manifest:\n%s", out)
	}
	body, _, ok := strings.Cut(rest, "\n  YAML")
	if !ok {
		t.Fatalf("NOTES manifest is not terminated:\n%s", rest)
	}
	var lines []string
	for l := range strings.SplitSeq(body, "\n") {
		lines = append(lines, strings.TrimPrefix(l, "  "))
	}
	return strings.Join(lines, "\n") + "\n"
}
