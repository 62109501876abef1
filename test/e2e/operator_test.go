//go:build e2e && !realnode

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

package e2e

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2" //nolint:revive // Ginkgo's DSL is meant to be dot-imported.
	. "github.com/onsi/gomega"    //nolint:revive // Gomega's DSL is meant to be dot-imported.
)

// operators holds every operator process the suite started.
var operators []*operator

// runningOperators returns the started operators that still run.
func runningOperators() []*operator {
	var out []*operator
	for _, o := range operators {
		if !o.exited() {
			out = append(out, o)
		}
	}
	return out
}

// operator is one running bin/manager process, authenticated as the chart's
// ServiceAccount through kubeconfig.
type operator struct {
	name        string
	cmd         *exec.Cmd
	logPath     string
	healthAddr  string
	metricsAddr string
	done        chan struct{}
	mu          sync.Mutex
	exitErr     error
}

// operatorOptions say how to start a manager process.
type operatorOptions struct {
	name        string
	leaderElect bool
	kubeconfig  string
	extraArgs   []string
}

// startOperator starts bin/manager with the given options, logging to a file
// in the suite's log dir, and waits for its readiness endpoint.
func startOperator(e *env, logDir string, o operatorOptions) *operator {
	health := fmt.Sprintf("127.0.0.1:%d", freePort())
	metrics := fmt.Sprintf("127.0.0.1:%d", freePort())
	args := []string{
		"--health-probe-bind-address=" + health,
		"--metrics-bind-address=" + metrics, "--metrics-secure=false",
		fmt.Sprintf("--leader-elect=%t", o.leaderElect),
	}
	if o.leaderElect {
		args = append(args, "--leader-election-namespace="+operatorNamespace)
	}
	args = append(args, o.extraArgs...)
	logPath := filepath.Join(logDir, o.name+".log")
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	Expect(err).NotTo(HaveOccurred())
	cmd := exec.Command(e.manager, args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+o.kubeconfig)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	Expect(cmd.Start()).To(Succeed(), "starting %s", e.manager)
	op := &operator{name: o.name, cmd: cmd, logPath: logPath, healthAddr: health, metricsAddr: metrics,
		done: make(chan struct{})}
	operators = append(operators, op)
	go func() {
		err := cmd.Wait()
		_ = logFile.Close()
		op.mu.Lock()
		op.exitErr = err
		op.mu.Unlock()
		close(op.done)
	}()
	_, _ = fmt.Fprintf(GinkgoWriter, "started operator %s (pid %d), log %s\n", o.name, cmd.Process.Pid, logPath)
	Eventually(func() error { return op.healthy("/healthz") }).
		WithTimeout(60*time.Second).WithPolling(500*time.Millisecond).
		Should(Succeed(), "operator %s never answered /healthz; see %s", o.name, logPath)
	return op
}

// healthy asks the operator's health endpoint path and fails unless it
// answers 200 while the process runs.
func (o *operator) healthy(path string) error {
	if o.exited() {
		return StopTrying(fmt.Sprintf("operator %s exited: %v; log:\n%s", o.name, o.waitErr(), o.logTail()))
	}
	resp, err := http.Get("http://" + o.healthAddr + path)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s answered %d", path, resp.StatusCode)
	}
	return nil
}

// exited reports whether the process has ended.
func (o *operator) exited() bool {
	select {
	case <-o.done:
		return true
	default:
		return false
	}
}

// waitErr returns the process's exit error once it has ended.
func (o *operator) waitErr() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.exitErr
}

// kill sends sig to the process and waits for it to end.
func (o *operator) kill(sig syscall.Signal) {
	if o.exited() {
		return
	}
	_ = o.cmd.Process.Signal(sig)
	Eventually(o.done).WithTimeout(30 * time.Second).Should(BeClosed())
}

// stop ends the process with SIGTERM (SIGKILL if it does not stop).
func (o *operator) stop() {
	if o.exited() {
		return
	}
	_ = o.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-o.done:
	case <-time.After(20 * time.Second):
		o.kill(syscall.SIGKILL)
	}
}

// logTail returns the last lines of the operator's log.
func (o *operator) logTail() string {
	b, _ := os.ReadFile(o.logPath)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > 30 {
		lines = lines[len(lines)-30:]
	}
	return strings.Join(lines, "\n")
}

// acquiredLease reports whether the operator is the elected leader, from
// its leader_election_master_status metric.
func (o *operator) acquiredLease() bool {
	if o.exited() {
		return false
	}
	resp, err := http.Get("http://" + o.metricsAddr + "/metrics")
	if err != nil {
		return false
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return false
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if strings.HasPrefix(line, "leader_election_master_status{") && strings.Contains(line, leaseName) {
			return strings.HasSuffix(strings.TrimSpace(line), " 1")
		}
	}
	return false
}

// operatorKubeconfig writes a kubeconfig that authenticates with a token of
// the chart's ServiceAccount sa, so the chart's RBAC is all the operator has.
func operatorKubeconfig(e *env, dir, sa string) string {
	token, err := e.kubectl("-n", operatorNamespace, "create", "token", sa, "--duration=24h")
	Expect(err).NotTo(HaveOccurred())
	server, err := e.kubectl("config", "view", "--minify", "-o", "jsonpath={.clusters[0].cluster.server}")
	Expect(err).NotTo(HaveOccurred())
	ca, err := e.kubectl("config", "view", "--minify", "-o", "jsonpath={.clusters[0].cluster.certificate-authority}")
	Expect(err).NotTo(HaveOccurred())
	path := filepath.Join(dir, "operator.kubeconfig")
	content := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: local
  cluster: {server: %q, certificate-authority: %q}
users:
- name: operator
  user: {token: %q}
contexts:
- name: local
  context: {cluster: local, user: operator}
current-context: local
`, server, ca, strings.TrimSpace(token))
	Expect(os.WriteFile(path, []byte(content), 0o600)).To(Succeed())
	return path
}

// freePort returns a loopback TCP port that is free now.
func freePort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	Expect(err).NotTo(HaveOccurred())
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port
}
