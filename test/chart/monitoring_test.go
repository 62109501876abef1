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
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/userservice-dev/userservice-operator/internal/testenv"
)

// runbookBase is where every alert's runbook_url points, followed by <alert>.md.
const runbookBase = "https://github.com/userservice-dev/userservice-operator/blob/main/docs/runbooks/"

// rulesFile and dashboardFile are the chart's single sources of the alerts and the dashboard.
func rulesFile(t testing.TB) string { return filepath.Join(chartDir(t), "monitoring", "rules.yaml") }
func dashboardFile(t testing.TB) string {
	return filepath.Join(chartDir(t), "monitoring", "dashboard.json")
}

// ruleFile is a Prometheus rule file.
type ruleFile struct {
	Groups []struct {
		Name  string `json:"name"`
		Rules []rule `json:"rules"`
	} `json:"groups"`
}

// rule is one alerting rule of a rule file.
type rule struct {
	Alert       string            `json:"alert"`
	Expr        string            `json:"expr"`
	For         string            `json:"for"`
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
}

// alerts reads the chart's rule file and returns its alerts.
func alerts(t testing.TB) []rule {
	t.Helper()
	b, err := os.ReadFile(rulesFile(t))
	if err != nil {
		t.Fatal(err)
	}
	var f ruleFile
	if err := yaml.UnmarshalStrict(b, &f); err != nil {
		t.Fatalf("%s: %v", rulesFile(t), err)
	}
	var out []rule
	for _, g := range f.Groups {
		out = append(out, g.Rules...)
	}
	if len(out) == 0 {
		t.Fatalf("%s holds no alert", rulesFile(t))
	}
	return out
}

// dashboard is the part of a Grafana dashboard the tests read.
type dashboard struct {
	UID           string  `json:"uid"`
	Title         string  `json:"title"`
	SchemaVersion int     `json:"schemaVersion"`
	Panels        []panel `json:"panels"`
	Templating    struct {
		List []struct {
			Name       string         `json:"name"`
			Type       string         `json:"type"`
			Query      any            `json:"query"`
			Datasource map[string]any `json:"datasource"`
		} `json:"list"`
	} `json:"templating"`
}

// panel is a dashboard panel, or a row holding panels.
type panel struct {
	ID         int            `json:"id"`
	Type       string         `json:"type"`
	Title      string         `json:"title"`
	Datasource map[string]any `json:"datasource"`
	GridPos    struct {
		H, W, X, Y int
	} `json:"gridPos"`
	Targets []struct {
		Expr       string         `json:"expr"`
		RefID      string         `json:"refId"`
		Datasource map[string]any `json:"datasource"`
	} `json:"targets"`
	Panels []panel `json:"panels"`
}

// readDashboard decodes the chart's dashboard.
func readDashboard(t testing.TB) (dashboard, []byte) {
	t.Helper()
	b, err := os.ReadFile(dashboardFile(t))
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s is not JSON: %v", dashboardFile(t), err)
	}
	return d, b
}

// allPanels returns the dashboard's panels, those inside rows included, rows excluded.
func allPanels(ps []panel) []panel {
	var out []panel
	for _, p := range ps {
		if p.Type == "row" {
			out = append(out, allPanels(p.Panels)...)
			continue
		}
		out = append(out, p)
	}
	return out
}

// promtool returns the promtool binary, failing under CI=true and skipping
// elsewhere when it is missing.
func promtool(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		testenv.Unavailable(t,
			"promtool is missing: apt-get install prometheus (Debian's package, 2.42, has prometheus and promtool)")
	}
	return p
}

// TestPrometheusRules checks the rule file with promtool, runs its promtool
// unit tests, and checks that each alert has a severity, a summary, a
// description and a runbook that exists, and unit tests where it fires and
// where it stays silent.
func TestPrometheusRules(t *testing.T) {
	pt := promtool(t)
	if out, err := run(repoRoot(t), pt, "check", "rules", rulesFile(t)); err != nil {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}
	tests := filepath.Join(repoRoot(t), "test", "chart", "testdata", "rules_test.yaml")
	if out, err := run(filepath.Dir(tests), pt, "test", "rules", filepath.Base(tests)); err != nil {
		t.Fatalf("promtool test rules: %v\n%s", err, out)
	}
	fires, silent := unitTestedAlerts(t, tests)
	readme, err := os.ReadFile(filepath.Join(repoRoot(t), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range alerts(t) {
		t.Run(a.Alert, func(t *testing.T) {
			if s := a.Labels["severity"]; s != "critical" && s != "warning" {
				t.Errorf("severity = %q, want critical or warning", s)
			}
			if a.Annotations["summary"] == "" || a.Annotations["description"] == "" {
				t.Errorf("annotations %v lack a summary or a description", a.Annotations)
			}
			if got, want := a.Annotations["runbook_url"], runbookBase+a.Alert+".md"; got != want {
				t.Errorf("runbook_url = %q, want %q", got, want)
			}
			checkRunbook(t, filepath.Join(repoRoot(t), "docs", "runbooks", a.Alert+".md"))
			if !fires[a.Alert] || !silent[a.Alert] {
				t.Errorf("%s has unit tests where it fires: %v, where it stays silent: %v; want both", tests,
					fires[a.Alert], silent[a.Alert])
			}
			if !strings.Contains(string(readme), "docs/runbooks/"+a.Alert+".md") {
				t.Errorf("README.md does not link the runbook of %s", a.Alert)
			}
		})
	}
}

// checkRunbook checks that a runbook exists and says what the alert means,
// how to confirm it and how to fix it.
func checkRunbook(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Errorf("runbook: %v", err)
		return
	}
	for _, section := range []string{"## Meaning", "## Confirm", "## Fix"} {
		if !strings.Contains(string(b), "\n"+section) {
			t.Errorf("runbook %s has no %q section", filepath.Base(path), section)
		}
	}
}

// unitTestedAlerts reads a promtool test file and returns the alerts that
// some test expects to fire, and those that some test expects to be silent.
func unitTestedAlerts(t *testing.T, path string) (fires, silent map[string]bool) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Tests []struct {
			AlertRuleTest []struct {
				Alertname string `json:"alertname"`
				ExpAlerts []any  `json:"exp_alerts"`
			} `json:"alert_rule_test"`
		} `json:"tests"`
	}
	if err := yaml.Unmarshal(b, &f); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	fires, silent = map[string]bool{}, map[string]bool{}
	for _, tc := range f.Tests {
		for _, a := range tc.AlertRuleTest {
			if len(a.ExpAlerts) > 0 {
				fires[a.Alertname] = true
			} else {
				silent[a.Alertname] = true
			}
		}
	}
	return fires, silent
}

// TestGrafanaDashboard checks that the dashboard is Grafana JSON that the
// sidecar can load: a uid, a schema version, unique panel ids, a
// datasource variable that every panel and query uses, and a query in every panel.
func TestGrafanaDashboard(t *testing.T) {
	d, _ := readDashboard(t)
	if d.UID == "" || d.Title == "" {
		t.Errorf("uid %q, title %q: want both", d.UID, d.Title)
	}
	if d.SchemaVersion < 36 {
		t.Errorf("schemaVersion = %d, want at least 36 (Grafana 9)", d.SchemaVersion)
	}
	vars := map[string]string{}
	for _, v := range d.Templating.List {
		vars[v.Name] = v.Type
		if v.Type == "datasource" && v.Query != "prometheus" {
			t.Errorf("datasource variable %q selects %v, want prometheus", v.Name, v.Query)
		}
	}
	if vars["datasource"] != "datasource" || vars["namespace"] != "query" || vars["name"] != "query" {
		t.Errorf("variables = %v, want a datasource variable, and query variables namespace and name", vars)
	}
	ids := map[int]string{}
	var check func(ps []panel)
	check = func(ps []panel) {
		for _, p := range ps {
			if other, ok := ids[p.ID]; ok || p.ID <= 0 {
				t.Errorf("panel %q has id %d, already used by %q (or not positive)", p.Title, p.ID, other)
			}
			ids[p.ID] = p.Title
			if p.Title == "" || p.GridPos.W <= 0 || p.GridPos.H <= 0 || p.GridPos.X+p.GridPos.W > 24 {
				t.Errorf("panel %d: title %q, gridPos %+v: want a title and a position within 24 columns", p.ID, p.Title, p.GridPos)
			}
			check(p.Panels)
		}
	}
	check(d.Panels)
	for _, p := range allPanels(d.Panels) {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		if p.Datasource["uid"] != "${datasource}" {
			t.Errorf("panel %q uses datasource %v, want the ${datasource} variable", p.Title, p.Datasource)
		}
		refs := map[string]bool{}
		for _, q := range p.Targets {
			if strings.TrimSpace(q.Expr) == "" || q.RefID == "" || refs[q.RefID] || q.Datasource["uid"] != "${datasource}" {
				t.Errorf("panel %q: query %q (refId %q, datasource %v): want an expression, a unique refId and ${datasource}",
					p.Title, q.Expr, q.RefID, q.Datasource)
			}
			refs[q.RefID] = true
		}
	}
}

// TestMonitoringTemplates renders the PrometheusRule and the dashboard
// ConfigMap and checks that they hold the chart's files unchanged, and that
// the operator's ServiceMonitor gives its series the job and namespace
// labels the alerts expect.
func TestMonitoringTemplates(t *testing.T) {
	objs := mustTemplate(t, "userservice-system", nonDefaultValues)
	pr := one(t, objs, "PrometheusRule", "")
	if pr.GetLabels()["release"] != "prometheus" || pr.GetNamespace() != "userservice-system" {
		t.Errorf("PrometheusRule %s/%s labels %v, want the release namespace and release=prometheus", pr.GetNamespace(),
			pr.GetName(), pr.GetLabels())
	}
	b, err := os.ReadFile(rulesFile(t))
	if err != nil {
		t.Fatal(err)
	}
	var want map[string]any
	if err := yaml.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	if spec := pr.Object["spec"]; !equality.Semantic.DeepEqual(spec, want) {
		t.Errorf("the PrometheusRule's spec is not monitoring/rules.yaml:\n%s", diff(want, spec))
	}

	cm := one(t, objs, "ConfigMap", "-dashboard")
	_, raw := readDashboard(t)
	data, _, _ := unstructured.NestedString(cm.Object, "data", "userservice.json")
	if data != strings.TrimRight(string(raw), "\n") {
		t.Error("the dashboard ConfigMap's userservice.json is not monitoring/dashboard.json")
	}
	if cm.GetLabels()["grafana_dashboard"] != "1" || cm.GetNamespace() != "grafana" ||
		cm.GetAnnotations()["grafana_folder"] != "UserService" {
		t.Errorf("dashboard ConfigMap %s/%s labels %v annotations %v", cm.GetNamespace(), cm.GetName(),
			cm.GetLabels(), cm.GetAnnotations())
	}

	sm := one(t, objs, "ServiceMonitor", "")
	eps, _, _ := unstructured.NestedSlice(sm.Object, "spec", "endpoints")
	jobLabel, _, _ := unstructured.NestedString(sm.Object, "spec", "jobLabel")
	svc := one(t, objs, "Service", "-metrics")
	if len(eps) != 1 || eps[0].(map[string]any)["honorLabels"] != true ||
		svc.GetLabels()[jobLabel] != "userservice-operator" {
		t.Errorf("ServiceMonitor jobLabel %q (Service label %q), endpoints %v: want job=userservice-operator and honorLabels",
			jobLabel, svc.GetLabels()[jobLabel], eps)
	}
	for _, a := range alerts(t) {
		if strings.Contains(a.Expr, "job=") &&
			!regexp.MustCompile(`job="(user-service|userservice-operator)"`).MatchString(a.Expr) {
			t.Errorf("%s selects another job: %s", a.Alert, a.Expr)
		}
	}
	if slices.ContainsFunc(alerts(t), func(a rule) bool { return a.Alert == "" }) {
		t.Error("the rule file holds a recording rule or an unnamed alert")
	}
}
