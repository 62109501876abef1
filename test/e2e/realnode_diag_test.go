//go:build e2e && realnode

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
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	. "github.com/onsi/ginkgo/v2" //nolint:revive // Ginkgo's DSL is meant to be dot-imported.
)

// When a spec fails, the suite keeps what explains it in diagDir (beside the
// cluster's state dir, which `down` removes): the cluster's view at the
// failure, the operator pods' logs (also those of a pod the spec deleted,
// followed while it lived) and, at teardown, every component's log.
var diagFailed bool

// diagDir is where the diagnostics of a failed run are kept.
func diagDir() string { return e.clusterDir + "-diagnostics" }

var _ = ReportAfterEach(func(r SpecReport) {
	if !r.Failed() || e == nil || e.kubeconfig == "" {
		return
	}
	diagFailed = true
	dir := filepath.Join(diagDir(), strings.NewReplacer(" ", "_", "/", "_").Replace(r.LeafNodeText))
	if len(dir) > 200 {
		dir = dir[:200]
	}
	_ = os.MkdirAll(dir, 0o700)
	for file, args := range map[string][]string{
		"pods.txt":   {"get", "pods", "-A", "-o", "wide"},
		"events.txt": {"get", "events", "-A", "--sort-by=.lastTimestamp"},
		"usvc.yaml":  {"get", "usvc", "-A", "-o", "yaml"},
		"lease.yaml": {"-n", operatorNamespace, "get", "lease", "-o", "yaml"},
		"operator.log": {"-n", operatorNamespace, "logs", "-l", "app.kubernetes.io/instance=userservice-operator",
			"--prefix", "--tail=-1"},
		"jobs-pods.txt": {"get", "jobs,rs,deploy,svc,endpointslices", "-A", "-o", "wide"},
	} {
		out, err := e.kubectl(args...)
		if err != nil {
			out += "\n" + err.Error()
		}
		_ = os.WriteFile(filepath.Join(dir, file), []byte(out), 0o600)
	}
	_, _ = fmt.Fprintf(GinkgoWriter, "diagnostics of the failed spec kept in %s\n", dir)
})

// followLogs streams the logs of pod ns/name into diagDir until the spec
// ends, so that the logs of a pod the spec deletes survive it; they are kept
// only when the run fails.
func followLogs(ns, name string) {
	_ = os.MkdirAll(diagDir(), 0o700)
	f, err := os.Create(filepath.Join(diagDir(), "follow-"+name+".log"))
	if err != nil {
		return
	}
	cmd := exec.Command(filepath.Join(e.binDir, "kubectl"), "-n", ns, "logs", "-f", name)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+e.kubeconfig)
	cmd.Stdout, cmd.Stderr = f, f
	if cmd.Start() != nil {
		_ = f.Close()
		return
	}
	DeferCleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		_ = f.Close()
	})
}

// keepComponentLogs copies the cluster's component logs (kubelet,
// containerd, kube-apiserver, ...) into diagDir before `down` removes them,
// when a spec failed; otherwise it removes diagDir.
func keepComponentLogs() {
	if !diagFailed {
		_ = os.RemoveAll(diagDir())
		return
	}
	out, err := exec.Command("cp", "-r", filepath.Join(e.clusterDir, "logs"),
		filepath.Join(diagDir(), "components")).CombinedOutput()
	if err != nil {
		_, _ = fmt.Fprintf(GinkgoWriter, "copying the component logs: %v: %s\n", err, out)
	}
	_, _ = fmt.Fprintf(GinkgoWriter, "diagnostics kept in %s\n", diagDir())
}
