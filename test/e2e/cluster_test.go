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

package e2e

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	. "github.com/onsi/ginkgo/v2" //nolint:revive // Ginkgo's DSL is meant to be dot-imported.
)

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
// E2E_*_PORT variables; etcd needs its port and the next one (peer).
func pickPorts() map[string]string {
	ports := map[string]string{}
	for name, env := range map[string]string{
		"apiserver": "E2E_APISERVER_PORT", "etcd": "E2E_ETCD_PORT", "kcm": "E2E_KCM_PORT", "scheduler": "E2E_SCHEDULER_PORT",
	} {
		if v := os.Getenv(env); v != "" {
			ports[name] = v
			continue
		}
		p := freePort()
		for name == "etcd" && !portFree(p+1) {
			p = freePort()
		}
		ports[name] = strconv.Itoa(p)
	}
	return ports
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

// kubectlStdin runs kubectl with the admin kubeconfig and stdin.
func (e *env) kubectlStdin(stdin string, args ...string) (string, error) {
	cmd := exec.Command(filepath.Join(e.binDir, "kubectl"), args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+e.kubeconfig)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("kubectl %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}
