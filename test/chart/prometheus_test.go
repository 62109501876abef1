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
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"connectrpc.com/connect"
	"sigs.k8s.io/yaml"

	"github.com/userservice-dev/userservice-operator/internal/testenv"
	"github.com/userservice-dev/userservice-operator/internal/userservice/amqptest"
	"github.com/userservice-dev/userservice-operator/internal/userservice/auth"
	"github.com/userservice-dev/userservice-operator/internal/userservice/pgtest"
	usclient "github.com/userservice-dev/userservice-operator/pkg/client"
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

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	_, port, err := net.SplitHostPort(freeAddr(t))
	if err != nil {
		t.Fatal(err)
	}
	p, _ := strconv.Atoi(port)
	return p
}

// process is a server the test started, stopped by its pid when the test ends.
type process struct {
	cmd  *exec.Cmd
	out  *logBuffer
	done chan error
}

// startProcess starts a server process with env (and nothing of the test's
// environment), killed if the test binary dies, and stopped with SIGTERM
// (SIGKILL after 15s) when the test ends.
func startProcess(t *testing.T, name string, env []string, args ...string) *process {
	t.Helper()
	p := &process{cmd: exec.Command(name, args...), out: &logBuffer{}, done: make(chan error, 1)}
	p.cmd.Env = env
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done: //nolint:errcheck // the test needs the process gone; its exit status after SIGTERM tells nothing
		case <-time.After(15 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.done //nolint:errcheck // killed: the exit status is SIGKILL's
			t.Errorf("%s (pid %d) did not stop within 15s of SIGTERM; killed it", filepath.Base(name), p.cmd.Process.Pid)
		}
	})
	return p
}

// waitHTTP polls target until it answers 200, failing the test with the
// process's output if it exits or does not answer within 30s.
func (p *process) waitHTTP(t *testing.T, target string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(target); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case err := <-p.done:
			t.Fatalf("%s exited (%v) before answering %s:\n%s", p.cmd.Path, err, target, p.out.String())
		case <-time.After(100 * time.Millisecond):
		}
	}
	t.Fatalf("%s did not answer %s within 30s:\n%s", p.cmd.Path, target, p.out.String())
}

// userServiceProcess is the user service the test runs.
type userServiceProcess struct {
	httpAddr, grpcAddr, secret string
}

// startUserService builds cmd/user-service, migrates dbURL and serves on
// free loopback ports with events published to amqpURL.
func startUserService(t *testing.T, dbURL, amqpURL string) *userServiceProcess {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "user-service")
	if out, err := run(repoRoot(t), "go", "build", "-o", bin, "./cmd/user-service"); err != nil {
		t.Fatalf("building the user service: %v\n%s", err, out)
	}
	migrate := exec.Command(bin, "migrate", "up")
	migrate.Env = []string{"DATABASE_URL=" + dbURL}
	if out, err := migrate.CombinedOutput(); err != nil {
		t.Fatalf("migrate up: %v\n%s", err, out)
	}
	s := &userServiceProcess{httpAddr: fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		secret: "prometheus-test-secret-0123456789abcdef"}
	grpcPort := freePort(t)
	s.grpcAddr = fmt.Sprintf("127.0.0.1:%d", grpcPort)
	_, httpPort, _ := net.SplitHostPort(s.httpAddr)
	p := startProcess(t, bin, []string{
		"DATABASE_URL=" + dbURL, "JWT_SECRET=" + s.secret, "AMQP_URL=" + amqpURL, "SERVER_PORT=" + httpPort,
		"GRPC_PORT=" + strconv.Itoa(grpcPort), "SHUTDOWN_DRAIN=0s", "LOG_LEVEL=warn",
	}, "serve")
	p.waitHTTP(t, "http://"+s.httpAddr+"/ready")
	return s
}

// load sends a bounded mix of REST and gRPC requests (creates, reads,
// lists, not-founds and invalid input), stopping after 20s at most, and
// returns how many it sent.
func (s *userServiceProcess) load(t *testing.T) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	token, err := auth.Sign([]byte(s.secret), "prometheus-test", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Timeout: 5 * time.Second}
	n := 0
	do := func(method, path, body string, want int) []byte {
		n++
		req, err := http.NewRequestWithContext(ctx, method, "http://"+s.httpAddr+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+token)
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer func() { _ = resp.Body.Close() }()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != want {
			t.Fatalf("%s %s = %d %s, want %d", method, path, resp.StatusCode, b, want)
		}
		return b
	}
	grpc := usclient.New("http://"+s.grpcAddr, usclient.Options{Token: token, MaxAttempts: 1})
	for i := range 25 {
		var u struct{ ID int64 }
		body := fmt.Sprintf(`{"name":"Prom %d","email":"prom-%d-%d@example.com"}`, i, i, time.Now().UnixNano())
		if err := json.Unmarshal(do(http.MethodPost, "/api/v1/users", body, http.StatusCreated), &u); err != nil {
			t.Fatal(err)
		}
		do(http.MethodGet, "/api/v1/users/"+strconv.FormatInt(u.ID, 10), "", http.StatusOK)
		do(http.MethodGet, "/api/v1/users?limit=5", "", http.StatusOK)
		do(http.MethodGet, "/api/v1/users/999999999", "", http.StatusNotFound)
		do(http.MethodPost, "/api/v1/users", `{"name":"","email":"not-an-email"}`, http.StatusBadRequest)
		created, err := grpc.CreateUser(ctx, fmt.Sprintf("Grpc %d", i),
			fmt.Sprintf("grpc-%d-%d@example.com", i, time.Now().UnixNano()))
		if err != nil {
			t.Fatalf("gRPC CreateUser: %v", err)
		}
		if _, err := grpc.GetUser(ctx, created.GetId()); err != nil {
			t.Fatalf("gRPC GetUser: %v", err)
		}
		if _, err := grpc.GetUser(ctx, 999999999); connect.CodeOf(err) != connect.CodeNotFound {
			t.Fatalf("gRPC GetUser of a missing user: %v, want NotFound", err)
		}
		n += 3
	}
	return n
}

// prometheus is a Prometheus server the test started.
type prometheus struct {
	*process
	base string
}

// startPrometheus starts Prometheus on a free loopback port with
// dir/prometheus.yml and its data in dir, and waits until it is ready.
func startPrometheus(t *testing.T, bin, dir string) *prometheus {
	t.Helper()
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	p := startProcess(t, bin, nil,
		"--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr,
		"--log.level=warn")
	p.waitHTTP(t, "http://"+addr+"/-/ready")
	t.Logf("Prometheus (pid %d) listens on %s", p.cmd.Process.Pid, addr)
	return &prometheus{process: p, base: "http://" + addr}
}

// api GETs a Prometheus API path and decodes its data; it returns an error
// for a failed request or an answer whose status is not "success".
func (p *prometheus) api(ctx context.Context, path string, params url.Values, data any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.base+path+"?"+params.Encode(), nil)
	if err != nil {
		return err
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	var body struct {
		Status, Error, ErrorType string
		Data                     json.RawMessage
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return fmt.Errorf("GET %s: decoding: %w", path, err)
	}
	if body.Status != "success" {
		return fmt.Errorf("GET %s?%s: %s: %s", path, params.Encode(), body.ErrorType, body.Error)
	}
	return json.Unmarshal(body.Data, data)
}

// query runs an instant query, failing the test when Prometheus rejects
// it, and reports whether it returned data.
func (p *prometheus) query(t *testing.T, expr string) bool {
	t.Helper()
	var data struct {
		ResultType string          `json:"resultType"`
		Result     json.RawMessage `json:"result"`
	}
	if err := p.api(t.Context(), "/api/v1/query", url.Values{"query": {expr}}, &data); err != nil {
		t.Fatalf("query failed: %v", err)
	}
	var results []any
	return json.Unmarshal(data.Result, &results) == nil && len(results) > 0
}

// hasSeries reports whether selector matches a series of the last 10 minutes.
func (p *prometheus) hasSeries(t *testing.T, selector string) bool {
	t.Helper()
	var series []map[string]string
	if err := p.api(t.Context(), "/api/v1/series", p.recent(selector), &series); err != nil {
		t.Fatalf("series of %s: %v", selector, err)
	}
	return len(series) > 0
}

// labelValues returns the values of label among the series selector matches.
func (p *prometheus) labelValues(t *testing.T, label, selector string) []string {
	t.Helper()
	var values []string
	if err := p.api(t.Context(), "/api/v1/label/"+label+"/values", p.recent(selector), &values); err != nil {
		t.Fatalf("values of %s in %s: %v", label, selector, err)
	}
	return values
}

// recent returns the parameters selecting the series of the last 10 minutes.
func (p *prometheus) recent(selector string) url.Values {
	now := time.Now()
	return url.Values{"match[]": {selector}, "start": {strconv.FormatInt(now.Add(-10*time.Minute).Unix(), 10)},
		"end": {strconv.FormatInt(now.Unix(), 10)}}
}

// metricNames returns the names of every metric Prometheus holds.
func (p *prometheus) metricNames(t *testing.T) []string {
	t.Helper()
	var names []string
	if err := p.api(t.Context(), "/api/v1/label/__name__/values", nil, &names); err != nil {
		t.Fatal(err)
	}
	return names
}

// waitFor waits until expr returns data, for 60s at most.
func (p *prometheus) waitFor(t *testing.T, expr string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if p.query(t, expr) {
			return
		}
		time.Sleep(250 * time.Millisecond)
	}
	var targets any
	_ = p.api(t.Context(), "/api/v1/targets", nil, &targets)
	t.Fatalf("%s returned no data within 60s; targets: %v\n%s", expr, targets, p.out.String())
}

// waitRulesEvaluated waits until Prometheus has evaluated every rule of
// the chart's rule file, and fails on a rule whose evaluation errs.
func (p *prometheus) waitRulesEvaluated(t *testing.T) {
	t.Helper()
	want := len(alerts(t))
	deadline := time.Now().Add(30 * time.Second)
	for {
		var data struct {
			Groups []struct {
				Rules []struct {
					Name, Health, LastError string
					LastEvaluation          time.Time
				}
			}
		}
		if err := p.api(t.Context(), "/api/v1/rules", nil, &data); err != nil {
			t.Fatal(err)
		}
		evaluated, errs := 0, []error(nil)
		for _, g := range data.Groups {
			for _, r := range g.Rules {
				if r.LastError != "" || (r.Health != "ok" && r.Health != "unknown") {
					errs = append(errs, fmt.Errorf("rule %s: health %s: %s", r.Name, r.Health, r.LastError))
				}
				if r.Health == "ok" && !r.LastEvaluation.IsZero() {
					evaluated++
				}
			}
		}
		if err := errors.Join(errs...); err != nil {
			t.Fatal(err)
		}
		if evaluated == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("Prometheus evaluated %d of the %d rules within 30s", evaluated, want)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// firingAlerts returns the names of the alerts that fire.
func (p *prometheus) firingAlerts(t *testing.T) []string {
	t.Helper()
	var data struct {
		Alerts []struct {
			State  string
			Labels map[string]string
		}
	}
	if err := p.api(t.Context(), "/api/v1/alerts", nil, &data); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, a := range data.Alerts {
		if a.State == "firing" {
			out = append(out, a.Labels["alertname"])
		}
	}
	return out
}
