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
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2" //nolint:revive // Ginkgo's DSL is meant to be dot-imported.
	. "github.com/onsi/gomega"    //nolint:revive // Gomega's DSL is meant to be dot-imported.
)

var (
	logDir    string
	opKubecfg string
	// mainOperator is the operator that specs rely on; fault specs replace it.
	mainOperator *operator
)

// TestE2E runs the end-to-end suite.
func TestE2E(t *testing.T) {
	RegisterFailHandler(Fail)
	SetDefaultEventuallyTimeout(2 * time.Minute)
	SetDefaultEventuallyPollingInterval(500 * time.Millisecond)
	RunSpecs(t, "e2e suite (local kwok cluster)")
}

var _ = BeforeSuite(func() {
	e = newEnv("e2e-cluster")
	logDir = filepath.Join(e.clusterDir+"-logs", time.Now().UTC().Format("20060102T150405"))
	Expect(os.MkdirAll(logDir, 0o700)).To(Succeed())

	By("building the Kubernetes binaries (a cold cache takes minutes)")
	requireTool(exec.Command(filepath.Join(e.root, "hack", "k8s-bins.sh"),
		"kube-apiserver", "etcd", "kube-controller-manager", "kube-scheduler", "kubectl", "kwok"), &e.binDir)

	By("starting the local cluster")
	startCluster()
	DeferCleanup(teardownCluster)

	By("building the operator")
	// Static and -trimpath, as make build and make images build it (and make
	// test-e2e builds this suite), so that it reuses the compiled packages.
	build := exec.Command("go", "build", "-trimpath", "-o", e.manager, "./cmd")
	build.Dir, build.Stdout, build.Stderr = e.root, GinkgoWriter, GinkgoWriter
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	Expect(build.Run()).To(Succeed())
	requireHelm()

	By("installing the operator with its Helm chart")
	sa := installChart()
	opKubecfg = operatorKubeconfig(e, logDir, sa)
	mainOperator = startOperator(e, logDir,
		operatorOptions{name: "operator-main", leaderElect: true, kubeconfig: opKubecfg})
	Eventually(mainOperator.acquiredLease).Should(BeTrue(),
		"the operator never took the Lease; log:\n%s", mainOperator.logTail())
})

// The operators' logs are kept only when something failed.
var _ = ReportAfterSuite("operator logs", func(r Report) {
	if logDir == "" {
		return
	}
	if r.SuiteSucceeded {
		_ = os.RemoveAll(filepath.Dir(logDir))
		return
	}
	_, _ = fmt.Fprintf(GinkgoWriter, "operator logs kept in %s\n", logDir)
})

// installChart installs charts/userservice-operator, scales its in-cluster
// Deployment to 0 (kwok pods run nothing) and returns its ServiceAccount.
func installChart() string {
	_, err := e.run(e.helm, "upgrade", "--install", "userservice-operator",
		filepath.Join(e.root, "charts", "userservice-operator"),
		"--namespace", operatorNamespace, "--create-namespace")
	Expect(err).NotTo(HaveOccurred())
	deploy, err := e.kubectl("-n", operatorNamespace, "get", "deploy",
		"-l", "app.kubernetes.io/instance=userservice-operator", "-o", "name")
	Expect(err).NotTo(HaveOccurred())
	deploy = strings.TrimSpace(strings.Split(deploy, "\n")[0])
	Expect(deploy).NotTo(BeEmpty(), "the chart created no Deployment")
	_, err = e.kubectl("-n", operatorNamespace, "scale", deploy, "--replicas=0")
	Expect(err).NotTo(HaveOccurred())
	sa, err := e.kubectl("-n", operatorNamespace, "get", deploy, "-o", "jsonpath={.spec.template.spec.serviceAccountName}")
	Expect(err).NotTo(HaveOccurred())
	Expect(sa).NotTo(BeEmpty())
	return sa
}

// teardownCluster stops the operators and, unless E2E_KEEP_CLUSTER is set,
// the local cluster.
func teardownCluster() {
	for _, op := range runningOperators() {
		op.stop()
	}
	if os.Getenv("E2E_KEEP_CLUSTER") != "" {
		_, _ = fmt.Fprintf(GinkgoWriter, "E2E_KEEP_CLUSTER set: cluster left running, export KUBECONFIG=%s\n", e.kubeconfig)
		return
	}
	_, err := e.localCluster("down")
	Expect(err).NotTo(HaveOccurred())
}
