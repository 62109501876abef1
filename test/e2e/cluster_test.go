//go:build e2e

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

// Package e2e runs the operator against a local cluster (hack/local-cluster.sh):
// real etcd, kube-apiserver, kube-controller-manager and kube-scheduler.
//
// Two suites share the package's helpers, chosen by build tag:
//   - `-tags e2e` (make test-e2e): nodes simulated by kwok; the operator is
//     installed with its Helm chart and runs as local processes with the
//     chart's ServiceAccount token.
//   - `-tags e2e,realnode` (make test-e2e-real, as root): one real node
//     (containerd, kubelet, kube-proxy), the operator and the user service
//     running as pods from the images of make images (realnode_*_test.go).
//
// E2E_KEEP_CLUSTER=1 leaves the cluster running.
package e2e

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	. "github.com/onsi/ginkgo/v2" //nolint:revive // Ginkgo's DSL is meant to be dot-imported.
	. "github.com/onsi/gomega"    //nolint:revive // Gomega's DSL is meant to be dot-imported.
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/userservice-dev/userservice-operator/internal/testenv"
)

// operatorNamespace is where the Helm chart installs the operator.
const operatorNamespace = "userservice-system"

// leaseName is the operator's leader-election Lease (COMMON.md contract).
const leaseName = "userservice-operator.userservice.dev"

var (
	e   *env
	k8s client.Client
)

// newEnv returns the suite's environment: the repository, a state dir of
// its own named <prefix>-<pid> and the tools' paths.
func newEnv(prefix string) *env {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	Expect(err).NotTo(HaveOccurred())
	state := os.Getenv("XDG_STATE_HOME")
	if state == "" {
		state = filepath.Join(os.Getenv("HOME"), ".local", "state")
	}
	dir := filepath.Join(state, "userservice-operator", fmt.Sprintf("%s-%d", prefix, os.Getpid()))
	return &env{
		root:       root,
		clusterDir: getenv("E2E_CLUSTER_DIR", dir),
		helm:       getenv("HELM", filepath.Join(root, "bin", "helm")),
		manager:    filepath.Join(root, "bin", "manager"),
	}
}

// startCluster picks the cluster's ports, runs hack/local-cluster.sh up with
// args, and sets the admin kubeconfig and the k8s client.
func startCluster(args ...string) {
	e.ports = pickPorts()
	out, err := e.localCluster(append([]string{"up"}, args...)...)
	Expect(err).NotTo(HaveOccurred())
	e.kubeconfig = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(out), "export KUBECONFIG="))
	cfg, err := clientcmd.BuildConfigFromFlags("", e.kubeconfig)
	Expect(err).NotTo(HaveOccurred())
	cfg.QPS, cfg.Burst = 100, 200
	k8s, err = client.New(cfg, client.Options{})
	Expect(err).NotTo(HaveOccurred())
}

// requireTool runs a command that builds or finds a tool. When it fails, the
// suite fails under CI=true and is skipped otherwise, saying what was missing.
// When out is set, it receives the command's trimmed stdout.
func requireTool(cmd *exec.Cmd, out *string) {
	cmd.Stderr = GinkgoWriter
	b, err := cmd.Output()
	if err != nil {
		unavailable(fmt.Sprintf("%s failed (%v): the e2e suite needs it", strings.Join(cmd.Args, " "), err))
	}
	if out != nil {
		*out = strings.TrimSpace(string(b))
	}
}

// requireHelm builds the Helm CLI with make helm when it is missing.
func requireHelm() {
	if _, err := os.Stat(e.helm); err != nil {
		requireTool(exec.Command("make", "-C", e.root, "helm"), nil)
	}
}

// unavailable fails the suite under CI=true and skips it otherwise, with msg.
func unavailable(msg string) {
	if testenv.InCI() {
		Fail(msg + " (CI=true: failing instead of skipping)")
	}
	Skip(msg + " (skipped outside CI)")
}

// env holds where the suite's cluster and tools live.
type env struct {
	root       string // repository root
	binDir     string // Kubernetes binaries (hack/k8s-bins.sh)
	clusterDir string // LOCAL_CLUSTER_DIR of the suite's cluster
	kubeconfig string // admin kubeconfig
	helm       string // Helm CLI
	manager    string // operator binary
	ports      map[string]string
}

// clusterEnv returns the environment for hack/local-cluster.sh: the suite
// uses its own state dir and free ports, so a `make demo` cluster or another
// run of the suite on the same machine is left alone.
func (e *env) clusterEnv() []string {
	return append(os.Environ(),
		"LOCAL_CLUSTER_DIR="+e.clusterDir,
		"LOCAL_CLUSTER_APISERVER_PORT="+e.ports["apiserver"],
		"LOCAL_CLUSTER_ETCD_PORT="+e.ports["etcd"],
		"LOCAL_CLUSTER_KCM_PORT="+e.ports["kcm"],
		"LOCAL_CLUSTER_SCHEDULER_PORT="+e.ports["scheduler"],
	)
}

// pickPorts chooses free loopback ports for the cluster, honouring the
// E2E_*_PORT variables; etcd needs its port and the next one (peer). The
// ports come from below the kernel's ephemeral range, so that the outgoing
// connections of other processes cannot take one between this choice and
// the cluster's start (a port from net.Listen(":0") can be reused so).
func pickPorts() map[string]string {
	ports := map[string]string{}
	taken := map[int]bool{}
	for name, env := range map[string]string{
		"apiserver": "E2E_APISERVER_PORT", "etcd": "E2E_ETCD_PORT", "kcm": "E2E_KCM_PORT", "scheduler": "E2E_SCHEDULER_PORT",
	} {
		if v := os.Getenv(env); v != "" {
			ports[name] = v
			continue
		}
		p := stablePort(taken)
		for name == "etcd" && (taken[p+1] || !portFree(p+1)) {
			p = stablePort(taken)
		}
		taken[p], taken[p+1] = true, true
		ports[name] = strconv.Itoa(p)
	}
	return ports
}

// stablePort returns a free loopback port between 20000 and the start of the
// kernel's ephemeral port range, not in taken.
func stablePort(taken map[int]bool) int {
	low := 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if v, err := strconv.Atoi(f[0]); err == nil && v > 20100 {
				low = v
			}
		}
	}
	for range 1000 {
		p := 20000 + rand.IntN(low-20000-1)
		if !taken[p] && portFree(p) {
			return p
		}
	}
	Fail("found no free loopback port below the ephemeral range")
	return 0
}

// portFree reports whether a loopback TCP port can be bound now.
func portFree(p int) bool {
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
	if err != nil {
		return false
	}
	_ = l.Close()
	return true
}

// getenv returns the environment variable key, or def when it is empty.
func getenv(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// localCluster runs hack/local-cluster.sh with the suite's environment and
// returns its stdout; stderr (progress lines) goes to the Ginkgo writer.
func (e *env) localCluster(args ...string) (string, error) {
	cmd := exec.Command(filepath.Join(e.root, "hack", "local-cluster.sh"), args...)
	cmd.Env = e.clusterEnv()
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = GinkgoWriter
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("hack/local-cluster.sh %s: %w", strings.Join(args, " "), err)
	}
	return out.String(), nil
}

// run runs name with args under the admin kubeconfig and returns its
// combined output.
func (e *env) run(name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+e.kubeconfig)
	cmd.Dir = e.root
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %w\n%s", filepath.Base(name), strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// kubectl runs kubectl with the admin kubeconfig.
func (e *env) kubectl(args ...string) (string, error) {
	return e.run(filepath.Join(e.binDir, "kubectl"), args...)
}
