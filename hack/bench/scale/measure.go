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

package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// userHZ is the unit of the CPU times in /proc/<pid>/stat: Linux reports them
// in USER_HZ, 100 per second on every architecture (getconf CLK_TCK).
const userHZ = 100

// procs finds the cluster's processes and the operator by the pid files that
// hack/local-cluster.sh (<clusterDir>/pids/<component>.pid) and
// hack/lib/local-operator.sh (<operatorDir>/manager.pid) write.
type procs struct {
	clusterDir, operatorDir string
}

// cpuTime is the CPU time (user and system, in clock ticks) one process has used.
type cpuTime struct {
	name  string
	ticks int64
}

// cpu returns the CPU time of every cluster process and of the operator that
// runs, in the order of their pid files (the cluster's by name, then the operator).
func (p procs) cpu() []cpuTime {
	files, _ := filepath.Glob(filepath.Join(p.clusterDir, "pids", "*.pid")) // sorted
	files = append(files, filepath.Join(p.operatorDir, "manager.pid"))
	var out []cpuTime
	for _, f := range files {
		pid, err := readPID(f)
		if err != nil {
			continue
		}
		ticks, err := cpuTicks(pid)
		if err != nil {
			continue // not running
		}
		out = append(out, cpuTime{name: strings.TrimSuffix(filepath.Base(f), ".pid"), ticks: ticks})
	}
	return out
}

// readPID reads the pid in a pid file.
func readPID(file string) (int, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}

// cpuTicks returns utime + stime of process pid, fields 14 and 15 of
// /proc/<pid>/stat, counted after the command name, which may hold spaces.
func cpuTicks(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	i := bytes.LastIndex(b, []byte(") "))
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no command name in %q", pid, b)
	}
	f := strings.Fields(string(b[i+2:])) // from field 3, the state
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields after the command name, want at least 13", pid, len(f))
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: utime %q, stime %q are not numbers", pid, f[11], f[12])
	}
	return utime + stime, nil
}

// total returns the CPU time of all the processes.
func total(ts []cpuTime) int64 {
	var sum int64
	for _, t := range ts {
		sum += t.ticks
	}
	return sum
}

// printCPU prints cpu_<phase>_<component>=<seconds> for the CPU each process
// used since the snapshot before (all of it for a process started since),
// with the dashes of the component's name as underscores.
func printCPU(phase string, before, after []cpuTime) {
	was := map[string]int64{}
	for _, t := range before {
		was[t.name] = t.ticks
	}
	for _, t := range after {
		fmt.Printf("cpu_%s_%s=%.1f\n", phase, strings.ReplaceAll(t.name, "-", "_"), float64(t.ticks-was[t.name])/userHZ)
	}
}

// waitQuiet waits until the cluster processes and the operator together use
// less than a fifth of a core over 5 s (at most 90 s), so that each phase
// starts on a quiet machine, not while work from the step before still runs.
func (p procs) waitQuiet(ctx context.Context) error {
	start := time.Now()
	for time.Since(start) < 90*time.Second {
		a := total(p.cpu())
		if err := sleep(ctx, 5*time.Second); err != nil {
			return err
		}
		if total(p.cpu())-a < userHZ {
			break
		}
	}
	logf("quiet after %ds", int(time.Since(start).Seconds()))
	return nil
}

// operatorPID returns the pid of the operator that local-operator.sh started,
// while it still runs.
func (p procs) operatorPID() (int, error) {
	f := filepath.Join(p.operatorDir, "manager.pid")
	pid, err := readPID(f)
	if err != nil {
		return 0, fmt.Errorf("reading the operator's pid: %w", err)
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if argv0, _, _ := bytes.Cut(cmdline, []byte{0}); err != nil || !bytes.HasSuffix(argv0, []byte("/manager")) {
		return 0, fmt.Errorf("the operator (pid %d in %s) is not running", pid, f)
	}
	return pid, nil
}

// rssKiB returns the operator's resident set size (VmRSS), in KiB.
func (p procs) rssKiB() (int64, error) {
	pid, err := p.operatorPID()
	if err != nil {
		return 0, err
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		}
	}
	return 0, fmt.Errorf("/proc/%d/status has no VmRSS line", pid)
}

// metrics reads the operator's Prometheus metrics endpoint.
type metrics struct {
	url    string
	client *http.Client
}

// families fetches and parses the metrics.
func (m metrics) families(ctx context.Context) (map[string]*dto.MetricFamily, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, m.url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := m.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("reading the operator's metrics: %w", err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		return nil, fmt.Errorf("reading the operator's metrics at %s: %s: %s", m.url, resp.Status, b)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("parsing the operator's metrics at %s: %w", m.url, err)
	}
	return fams, nil
}

// writeMethods are the HTTP methods of the operator's write requests.
var writeMethods = map[string]bool{"POST": true, "PUT": true, "PATCH": true, "DELETE": true}

// writes returns the operator's write requests so far: the sum of its
// rest_client_requests_total over the write methods.
func (m metrics) writes(ctx context.Context) (int64, error) {
	fams, err := m.families(ctx)
	if err != nil {
		return 0, err
	}
	var sum float64
	for _, s := range fams["rest_client_requests_total"].GetMetric() {
		for _, l := range s.GetLabel() {
			if l.GetName() == "method" && writeMethods[l.GetValue()] {
				sum += s.GetCounter().GetValue()
			}
		}
	}
	return int64(sum), nil
}

// heapInuseMiB returns the operator's Go heap in use
// (go_memstats_heap_inuse_bytes), in MiB.
func (m metrics) heapInuseMiB(ctx context.Context) (float64, error) {
	fams, err := m.families(ctx)
	if err != nil {
		return 0, err
	}
	f, ok := fams["go_memstats_heap_inuse_bytes"]
	if !ok || len(f.GetMetric()) == 0 {
		return 0, fmt.Errorf("the operator's metrics at %s have no go_memstats_heap_inuse_bytes", m.url)
	}
	return f.GetMetric()[0].GetGauge().GetValue() / (1 << 20), nil
}

// sleep waits for d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

// logf prints a progress line to stderr, as the launcher script does.
func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "[operator-scale] "+format+"\n", args...)
}
