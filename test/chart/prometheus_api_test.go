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
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

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
