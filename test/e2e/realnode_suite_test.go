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
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2" //nolint:revive // Ginkgo's DSL is meant to be dot-imported.
	. "github.com/onsi/gomega"    //nolint:revive // Gomega's DSL is meant to be dot-imported.
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

const (
	// gateway is the cni0 bridge's address on the host (hack/lib/real-node.sh):
	// PostgreSQL for the pods listens there, and only there.
	gateway = "10.244.0.1"
	// nodePodCIDR is the pods' subnet on the bridge.
	nodePodCIDR = "10.244.0.0/24"
	// operatorImage is the image of make images that the chart runs by default.
	operatorImage = "ghcr.io/userservice-dev/userservice-operator:v0.1.0"
)

var (
	// pgDir is the PostgreSQL cluster that the pods use.
	pgDir string
	// before is the machine's state before the cluster started; teardown
	// compares the state after `down` with it.
	before hostState
	// figures are the measured lines that the suite prints at its end.
	figures []string
)

// TestE2ERealNode runs the real-node suite.
func TestE2ERealNode(t *testing.T) {
	RegisterFailHandler(Fail)
	SetDefaultEventuallyTimeout(3 * time.Minute)
	SetDefaultEventuallyPollingInterval(500 * time.Millisecond)
	RunSpecs(t, "e2e suite (real node)")
}

var _ = BeforeSuite(func() {
	if os.Geteuid() != 0 {
		unavailable("the real-node suite must run as root (it runs containerd, a bridge and iptables rules): " +
			"sudo make test-e2e-real")
	}
	e = newEnv("e2e-real")

	By("building the images (make images images-e2e)")
	requireTool(exec.Command("make", "-C", e.root, "images", "images-e2e"), nil)
	requireHelm()
	By("building the Kubernetes binaries (a cold cache takes minutes)")
	requireTool(exec.Command(filepath.Join(e.root, "hack", "k8s-bins.sh"), "kube-apiserver", "etcd",
		"kube-controller-manager", "kube-scheduler", "kubectl", "kubelet", "kube-proxy", "crictl"), &e.binDir)

	before = readHostState()
	DeferCleanup(teardownRealNode)
	By("starting the local cluster with a real node")
	startCluster("--mode", "real-node")
	_, err := e.localCluster("load-images",
		filepath.Join(e.root, "dist", "manager.oci.tar"),
		filepath.Join(e.root, "dist", "user-service.oci.tar"),
		filepath.Join(e.root, "bin", "e2e-images", "v2", "user-service.oci.tar"),
		filepath.Join(e.root, "bin", "e2e-images", "fail", "user-service.oci.tar"))
	Expect(err).NotTo(HaveOccurred())

	By("starting PostgreSQL on the bridge gateway " + gateway)
	// Under /tmp: the postgres OS user cannot enter root's home.
	pgDir, err = os.MkdirTemp("", "e2e-real-pg-")
	Expect(err).NotTo(HaveOccurred())
	out, err := exec.Command(filepath.Join(e.root, "hack", "pg-cluster.sh"), "start", pgDir,
		"--listen", gateway, "--allow", nodePodCIDR).CombinedOutput()
	Expect(err).NotTo(HaveOccurred(), "starting PostgreSQL: %s", out)

	By("installing the operator with Helm: 2 replicas, as pods of its image")
	installOperatorPods()
})

// installOperatorPods installs the chart in a namespace that enforces the
// restricted Pod Security level, with 2 replicas, and waits for both.
func installOperatorPods() {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: operatorNamespace,
		Labels: map[string]string{"pod-security.kubernetes.io/enforce": "restricted"}}}
	Expect(k8s.Create(ctx(), ns)).To(Succeed())
	_, err := e.run(e.helm, "upgrade", "--install", "userservice-operator",
		filepath.Join(e.root, "charts", "userservice-operator"), "--namespace", operatorNamespace,
		"--set", "replicas=2", "--wait", "--timeout", "3m")
	Expect(err).NotTo(HaveOccurred())
	var d appsv1.DeploymentList
	Expect(k8s.List(ctx(), &d, client.InNamespace(operatorNamespace))).To(Succeed())
	Expect(d.Items).To(HaveLen(1))
	c := d.Items[0].Spec.Template.Spec.Containers[0]
	Expect(c.Image).To(Equal(operatorImage))
	Expect(c.ImagePullPolicy).To(Equal(corev1.PullIfNotPresent))
	Expect(d.Items[0].Status.ReadyReplicas).To(BeEquivalentTo(2))
	Eventually(leaseHolder).ShouldNot(BeEmpty(), "no operator pod took the Lease")
}

// figure records a measured line, prints it now and again at the suite's end.
func figure(format string, args ...any) {
	line := fmt.Sprintf(format, args...)
	figures = append(figures, line)
	_, _ = fmt.Fprintln(GinkgoWriter, line)
}

var _ = ReportAfterSuite("figures", func(Report) {
	if len(figures) > 0 {
		fmt.Println("\nreal-node figures:\n" + strings.Join(figures, "\n"))
	}
})

// teardownRealNode removes PostgreSQL and the cluster, unless
// E2E_KEEP_CLUSTER is set, and checks that `down` left the machine as it
// found it: no process, link, mount, iptables chain or kernel setting of the
// cluster is left.
func teardownRealNode() {
	if os.Getenv("E2E_KEEP_CLUSTER") != "" {
		_, _ = fmt.Fprintf(GinkgoWriter, "E2E_KEEP_CLUSTER set: cluster left running, export KUBECONFIG=%s\n", e.kubeconfig)
		return
	}
	if pgDir != "" {
		out, err := exec.Command(filepath.Join(e.root, "hack", "pg-cluster.sh"), "destroy", pgDir).CombinedOutput()
		Expect(err).NotTo(HaveOccurred(), "removing PostgreSQL: %s", out)
	}
	keepComponentLogs()
	procs := clusterProcesses(e.clusterDir)
	_, err := e.localCluster("down")
	Expect(err).NotTo(HaveOccurred())
	expectMachineRestored(before, procs)
	_, _ = fmt.Fprintf(GinkgoWriter, "after down: %d processes of the cluster gone; "+
		"links, mounts, iptables chains and kernel settings as before\n", len(procs))
}
