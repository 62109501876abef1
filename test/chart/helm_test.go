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
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/yaml"
)

// nonDefaultValues exercises the namespaced mode, two replicas and the ServiceMonitor.
const nonDefaultValues = `
replicas: 2
watchNamespaces: [team-a, team-b]
userServiceImage:
  repository: registry.example.com/mirror/user-service
  tag: v0.1.0-patched
maxConcurrentReconciles: 4
logLevel: debug
allowedSecretLabel: userservice.dev/allowed=true
metrics:
  serviceMonitor:
    enabled: true
    labels:
      release: prometheus
prometheusRule:
  enabled: true
  labels:
    release: prometheus
grafanaDashboard:
  enabled: true
  namespace: grafana
  annotations:
    grafana_folder: UserService
`

// chartMeta is the part of Chart.yaml the tests read.
type chartMeta struct {
	Version    string `json:"version"`
	AppVersion string `json:"appVersion"`
}

// readChartMeta reads Chart.yaml.
func readChartMeta(t *testing.T) chartMeta {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(chartDir(t), "Chart.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var m chartMeta
	if err := yaml.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// makefileVersion reads VERSION from the Makefile, which names the images.
func makefileVersion(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^VERSION \?= (\S+)$`).FindSubmatch(b)
	if m == nil {
		t.Fatal("Makefile has no `VERSION ?= x.y.z` line")
	}
	return string(m[1])
}

// TestHelmLint lints the chart with default and non-default values.
func TestHelmLint(t *testing.T) {
	helm := helmBin(t)
	vf := filepath.Join(t.TempDir(), "values.yaml")
	if err := os.WriteFile(vf, []byte(nonDefaultValues), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, args := range map[string][]string{
		"default":     {"lint", "--strict", chartDir(t)},
		"non-default": {"lint", "--strict", chartDir(t), "--values", vf},
	} {
		t.Run(name, func(t *testing.T) {
			out, err := run(repoRoot(t), helm, args...)
			if err != nil || !strings.Contains(out, "0 chart(s) failed") {
				t.Fatalf("helm lint: %v\n%s", err, out)
			}
		})
	}
}

// TestChartVersionMatchesImages checks that appVersion is the Makefile's
// VERSION, so the default image tags v<appVersion> are the images make builds.
func TestChartVersionMatchesImages(t *testing.T) {
	meta, version := readChartMeta(t), makefileVersion(t)
	if meta.AppVersion != version {
		t.Fatalf("Chart.yaml appVersion = %q, Makefile VERSION = %q: keep them equal", meta.AppVersion, version)
	}
}

// manager returns the operator Deployment and its manager container.
func manager(t *testing.T, objs []*unstructured.Unstructured) (*appsv1.Deployment, corev1.Container) {
	t.Helper()
	var d appsv1.Deployment
	into(t, one(t, objs, "Deployment", ""), &d)
	if len(d.Spec.Template.Spec.Containers) != 1 {
		t.Fatalf("operator pod has %d containers, want 1", len(d.Spec.Template.Spec.Containers))
	}
	return &d, d.Spec.Template.Spec.Containers[0]
}

// TestTemplateDefaults renders the default values and checks the Deployment,
// RBAC mode and metrics objects.
func TestTemplateDefaults(t *testing.T) {
	objs := mustTemplate(t, "userservice-system", "")
	d, c := manager(t, objs)
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 1 {
		t.Errorf("replicas = %v, want 1", d.Spec.Replicas)
	}
	wantArgs := []string{
		"--leader-elect",
		"--health-probe-bind-address=:8081",
		"--metrics-bind-address=:8443",
		"--metrics-cert-path=" + metricsCertDir,
		"--user-service-image=ghcr.io/userservice-dev/user-service:v" + readChartMeta(t).AppVersion,
		"--zap-log-level=info",
	}
	if d := diff(wantArgs, c.Args); d != "" {
		t.Errorf("manager args (-want +got):\n%s", d)
	}
	if want := "ghcr.io/userservice-dev/userservice-operator:v" + readChartMeta(t).AppVersion; c.Image != want {
		t.Errorf("operator image = %q, want %q", c.Image, want)
	}
	checkProbes(t, c)
	checkRestricted(t, d.Spec.Template.Spec)
	if c.Resources.Limits.Memory().IsZero() || c.Resources.Requests.Cpu().IsZero() {
		t.Errorf("manager resources = %+v, want limits and requests", c.Resources)
	}
	if d.Spec.Template.Spec.ServiceAccountName != "userservice-operator" {
		t.Errorf("serviceAccountName = %q, want userservice-operator", d.Spec.Template.Spec.ServiceAccountName)
	}
	one(t, objs, "ServiceAccount", "userservice-operator")
	one(t, objs, "ClusterRole", "-manager")
	one(t, objs, "ClusterRoleBinding", "-manager")
	if got := find(objs, "Role", "-manager"); len(got) != 0 {
		t.Errorf("default (cluster-wide) mode renders %d namespaced manager Roles, want none", len(got))
	}
	one(t, objs, "Role", "-leader-election")
	var svc corev1.Service
	into(t, one(t, objs, "Service", "-metrics"), &svc)
	if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Port != 8443 || svc.Spec.Ports[0].Name != "https" {
		t.Errorf("metrics Service ports = %+v, want https 8443", svc.Spec.Ports)
	}
	if got := find(objs, "ServiceMonitor", ""); len(got) != 0 {
		t.Errorf("ServiceMonitor rendered without metrics.serviceMonitor.enabled")
	}
	if got := find(objs, "PodDisruptionBudget", ""); len(got) != 0 {
		t.Errorf("PodDisruptionBudget rendered for a single replica")
	}
	if got := append(find(objs, "PrometheusRule", ""), find(objs, "ConfigMap", "-dashboard")...); len(got) != 0 {
		t.Errorf("the PrometheusRule or the dashboard ConfigMap rendered by default: %d objects", len(got))
	}
}

// checkProbes checks liveness and readiness on the manager's health endpoints.
func checkProbes(t *testing.T, c corev1.Container) {
	t.Helper()
	for name, p := range map[string]*corev1.Probe{"/healthz": c.LivenessProbe, "/readyz": c.ReadinessProbe} {
		if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != name || p.HTTPGet.Port.String() != "health" {
			t.Errorf("probe for %s = %+v, want an HTTP GET on port health", name, p)
		}
	}
	if !slices.ContainsFunc(c.Ports,
		func(p corev1.ContainerPort) bool { return p.Name == "health" && p.ContainerPort == 8081 }) {
		t.Errorf("manager ports = %+v, want health on 8081", c.Ports)
	}
}

// checkRestricted checks the fields the restricted Pod Security Standard requires.
func checkRestricted(t *testing.T, spec corev1.PodSpec) {
	t.Helper()
	psc := spec.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.SeccompProfile == nil ||
		psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("pod securityContext = %+v, want runAsNonRoot and seccomp RuntimeDefault", psc)
	}
	sc := spec.Containers[0].SecurityContext
	if sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
		sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) ||
		sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		t.Errorf("container securityContext = %+v, want no privilege escalation, drop ALL, read-only root", sc)
	}
}

// TestTemplateNonDefault renders namespaced mode with two replicas and a
// ServiceMonitor and checks what changes.
func TestTemplateNonDefault(t *testing.T) {
	objs := mustTemplate(t, "userservice-system", nonDefaultValues)
	d, c := manager(t, objs)
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 2 {
		t.Errorf("replicas = %v, want 2", d.Spec.Replicas)
	}
	for _, want := range []string{
		"--leader-elect",
		"--watch-namespaces=team-a,team-b",
		"--user-service-image=registry.example.com/mirror/user-service:v0.1.0-patched",
		"--max-concurrent-reconciles=4",
		"--zap-log-level=debug",
		"--allowed-secret-label=userservice.dev/allowed=true",
	} {
		if !slices.Contains(c.Args, want) {
			t.Errorf("manager args %q lack %q", c.Args, want)
		}
	}
	if aff := d.Spec.Template.Spec.Affinity; aff == nil || aff.PodAntiAffinity == nil {
		t.Errorf("two replicas should prefer distinct nodes; affinity = %+v", aff)
	}
	one(t, objs, "PodDisruptionBudget", "")
	if got := find(objs, "ClusterRole", "-manager"); len(got) != 0 {
		t.Errorf("namespaced mode renders a manager ClusterRole; want Roles only")
	}
	roles, bindings := find(objs, "Role", "-manager"), find(objs, "RoleBinding", "-manager")
	nss := make([]string, 0, len(roles))
	for _, r := range roles {
		nss = append(nss, r.GetNamespace())
	}
	if d := diff([]string{"team-a", "team-b"}, nss); d != "" || len(bindings) != 2 {
		t.Errorf("manager Roles in namespaces (-want +got):\n%s; %d RoleBindings, want 2", d, len(bindings))
	}
	for _, b := range bindings {
		var rb rbacv1.RoleBinding
		into(t, b, &rb)
		if rb.RoleRef.Kind != "Role" || len(rb.Subjects) != 1 || rb.Subjects[0].Namespace != "userservice-system" {
			t.Errorf("RoleBinding %s/%s = %+v, want a Role bound to the operator's ServiceAccount", rb.Namespace, rb.Name, rb)
		}
	}
	sm := one(t, objs, "ServiceMonitor", "")
	if sm.GetLabels()["release"] != "prometheus" {
		t.Errorf("ServiceMonitor labels = %v, want release=prometheus added", sm.GetLabels())
	}
}

// TestSchemaRejectsBadValues checks that values.schema.json turns typos and
// wrong types into errors.
func TestSchemaRejectsBadValues(t *testing.T) {
	cases := map[string]string{
		"misspelt top-level key":     "replica: 2",
		"misspelt nested key":        "metrics:\n  serviceMonitor:\n    enable: true",
		"replicas as a string":       `replicas: "2"`,
		"zero replicas":              "replicas: 0",
		"invalid namespace name":     "watchNamespaces: [Team_A]",
		"namespaces as a string":     "watchNamespaces: team-a",
		"unknown log level":          "logLevel: verbose",
		"tag with a space":           "userServiceImage:\n  tag: v1 2",
		"unknown image field":        "userServiceImage:\n  registry: docker.io",
		"unknown resources quantity": "resources:\n  limits:\n    gpu: 1",
		"secret label with a space":  "allowedSecretLabel: team secrets",
		"unknown certManager field":  "metrics:\n  certManager:\n    issuer: ca",
		"misspelt prometheusRule":    "prometheusRules:\n  enabled: true",
		"unknown prometheusRule key": "prometheusRule:\n  enabled: true\n  interval: 1m",
		"unknown dashboard key":      "grafanaDashboard:\n  enabled: true\n  folder: x",
		"invalid sidecar label":      "grafanaDashboard:\n  sidecarLabel: grafana dashboard",
		"dashboard enabled as text":  "grafanaDashboard:\n  enabled: \"yes\"",
	}
	for name, values := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := helmTemplate(t, "userservice-system", values)
			if err == nil || !strings.Contains(err.Error(), "schema") {
				t.Fatalf("helm template accepted %q (err = %v); want a schema error", values, err)
			}
		})
	}
}
