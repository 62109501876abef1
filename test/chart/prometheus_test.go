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
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/userservice-dev/userservice-operator/internal/testenv"
	"github.com/userservice-dev/userservice-operator/internal/userservice/amqptest"
	"github.com/userservice-dev/userservice-operator/internal/userservice/pgtest"
)

// The labels the test's Prometheus gives the user service's target, as the
// ServiceMonitor of spec.monitoring.serviceMonitor would: job from the
// Service's app.kubernetes.io/name, the Service's name and namespace.
const (
	appsNamespace = "obs-apps"
	userService   = "users"
	// rateInterval replaces Grafana's $__rate_interval: four scrape intervals.
	rateInterval = "4s"
)

// TestPrometheus runs every alert expression and every dashboard query
// through a real Prometheus that scrapes a real user service (on a real
// PostgreSQL and RabbitMQ, after a short bounded load over REST and gRPC)
// and the operator's HTTPS metrics endpoint (against a real kube-apiserver,
// with the token of a ServiceAccount bound to the chart's metrics-reader
// role). A query fails the test when Prometheus rejects it, or when one of
// its selectors, reduced to its equality matchers, matches no series: a
// misspelt metric or label, or a label the targets do not carry. The rule
// file is loaded too, and every rule must evaluate without error.
func TestPrometheus(t *testing.T) {
	promBin, err := exec.LookPath("prometheus")
	if err != nil {
		testenv.Unavailable(t, "prometheus is missing: apt-get install prometheus (Debian's package, 2.42)")
	}
	dbURL, amqpURL := pgtest.NewDatabase(t), amqptest.SharedURL(t)
	c := startCluster(t)
	dir := t.TempDir()

	in := install{release: "obs", sa: "obs-userservice-operator", namespace: "obs-operator", apps: appsNamespace}
	admin := adminClient(t, c)
	createNamespace(t, admin, in.namespace)
	createNamespace(t, admin, in.apps)
	objs := mustTemplateRelease(t, in.release, in.namespace, "metrics:\n  enabled: true\n")
	applyRBAC(t, admin, objs)
	waitAllowed(t, c, in)
	operatorAddr := freeAddr(t)
	tlsSecret := metricsTLS(t, objs)
	startManager(t, c, in, operatorAddr, writeServingCert(t, tlsSecret))
	reconcileToReady(t, admin, in.apps)
	createMetricsReader(t, admin, in, objs)
	writeFile(t, filepath.Join(dir, "token"), serviceAccountToken(t, c, in.namespace, "prometheus"))
	writeFile(t, filepath.Join(dir, "ca.crt"), string(tlsSecret.Data["ca.crt"]))

	svc := startUserService(t, dbURL, amqpURL)
	writeFile(t, filepath.Join(dir, "prometheus.yml"), prometheusConfig(t, dir, svc.httpAddr, operatorAddr,
		one(t, objs, "Service", "-metrics").GetName()+"."+in.namespace+".svc"))
	prom := startPrometheus(t, promBin, dir)

	start := time.Now()
	n := svc.load(t)
	t.Logf("Sent %d REST and gRPC requests in %s", n, time.Since(start).Round(time.Millisecond))
	prom.waitFor(t, `up{job="user-service"} == 1 and on() up{job="userservice-operator"} == 1`)
	prom.waitFor(t, `count_over_time(grpc_server_handled_total{job="user-service"}[1m]) >= 6`)
	prom.waitRulesEvaluated(t)

	names := prom.metricNames(t)
	queries := append(alertQueries(t), dashboardQueries(t)...)
	withData := 0
	for _, q := range queries {
		t.Run(q.name, func(t *testing.T) {
			if prom.query(t, q.expr) {
				withData++
			}
			sels, err := selectors(q.expr)
			if err != nil || len(sels) == 0 {
				t.Fatalf("no selector found in %q: %v", q.expr, err)
			}
			for _, s := range sels {
				if s.Name != "" && !slices.Contains(names, s.Name) {
					t.Errorf("metric %s does not exist (%q)", s.Name, q.expr)
				} else if eq := s.equalities(); !prom.hasSeries(t, eq.String()) {
					t.Errorf("selector %s matches no series (%q)", eq, q.expr)
				}
			}
		})
	}
	for _, v := range dashboardVariables(t) {
		t.Run("variable "+v.name, func(t *testing.T) {
			if !prom.hasSeries(t, v.selector) || !slices.Contains(prom.labelValues(t, v.label, v.selector), v.want) {
				t.Errorf("label_values(%s, %s) does not list %q", v.selector, v.label, v.want)
			}
		})
	}
	if firing := prom.firingAlerts(t); len(firing) > 0 {
		t.Errorf("alerts fire on a healthy system: %v", firing)
	}
	t.Logf("Checked %d queries (%d alert expressions, %d dashboard queries), %d returned data, in %s",
		len(queries), len(alertQueries(t)), len(queries)-len(alertQueries(t)), withData,
		time.Since(start).Round(time.Millisecond))
}

// namedQuery is one PromQL expression to check, named for the subtest.
type namedQuery struct{ name, expr string }

// alertQueries returns the expressions of the chart's alerts.
func alertQueries(t *testing.T) []namedQuery {
	as := alerts(t)
	out := make([]namedQuery, 0, len(as))
	for _, a := range as {
		out = append(out, namedQuery{name: "alert " + a.Alert, expr: a.Expr})
	}
	return out
}

// grafanaVars replaces the dashboard's variables with the test's values;
// dashboardQueries fails on a variable it does not know.
var grafanaVars = strings.NewReplacer("$__rate_interval", rateInterval,
	"$namespace", appsNamespace, "$name", userService)

// dashboardQueries returns the dashboard's queries with its variables replaced.
func dashboardQueries(t *testing.T) []namedQuery {
	d, _ := readDashboard(t)
	var out []namedQuery
	for _, p := range allPanels(d.Panels) {
		for _, q := range p.Targets {
			expr := grafanaVars.Replace(q.Expr)
			if strings.Contains(expr, "$") {
				t.Fatalf("panel %q uses a variable the test does not know: %s", p.Title, q.Expr)
			}
			out = append(out, namedQuery{name: fmt.Sprintf("panel %d %s %s", p.ID, p.Title, q.RefID), expr: expr})
		}
	}
	return out
}

// dashboardVariable is a label_values(selector, label) query variable and
// the value it must offer in the test.
type dashboardVariable struct{ name, selector, label, want string }

// dashboardVariables returns the dashboard's query variables.
func dashboardVariables(t *testing.T) []dashboardVariable {
	d, _ := readDashboard(t)
	labelValues := regexp.MustCompile(`^label_values\((.+),\s*(\w+)\)$`)
	want := map[string]string{"namespace": appsNamespace, "name": userService}
	var out []dashboardVariable
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		q, _ := v.Query.(map[string]any)
		text, _ := q["query"].(string)
		m := labelValues.FindStringSubmatch(grafanaVars.Replace(text))
		if m == nil || want[v.Name] == "" {
			t.Fatalf("variable %s: query %q is not label_values(selector, label) of a known variable", v.Name, text)
		}
		out = append(out, dashboardVariable{name: v.Name, selector: m[1], label: m[2], want: want[v.Name]})
	}
	return out
}

// writeFile writes a file readable by its owner only.
func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// prometheusConfig returns a configuration scraping the user service at
// httpAddr and the operator at operatorAddr every second, and loading the
// chart's rules.
func prometheusConfig(t *testing.T, dir, httpAddr, operatorAddr, serverName string) string {
	cfg := map[string]any{
		"global":     map[string]any{"scrape_interval": "1s", "evaluation_interval": "1s", "scrape_timeout": "1s"},
		"rule_files": []string{rulesFile(t)},
		"scrape_configs": []map[string]any{
			{
				"job_name": "user-service",
				"static_configs": []map[string]any{{"targets": []string{httpAddr},
					"labels": map[string]string{"namespace": appsNamespace, "service": userService, "pod": userService + "-0"}}},
			},
			{
				"job_name":      "userservice-operator",
				"scheme":        "https",
				"honor_labels":  true,
				"authorization": map[string]any{"credentials_file": filepath.Join(dir, "token")},
				"tls_config":    map[string]any{"ca_file": filepath.Join(dir, "ca.crt"), "server_name": serverName},
				"static_configs": []map[string]any{{"targets": []string{operatorAddr},
					"labels": map[string]string{"namespace": "obs-operator", "service": "obs-userservice-operator-metrics"}}},
			},
		},
	}
	b, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
