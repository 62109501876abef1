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
	"net/http"
	"os"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2" //nolint:revive // Ginkgo's DSL is meant to be dot-imported.
	. "github.com/onsi/gomega"    //nolint:revive // Gomega's DSL is meant to be dot-imported.
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/userservice-dev/userservice-operator/internal/userservice/auth"
)

// waitRolledOut waits until the UserService is Ready on image and no pod
// of another image is left, terminating ones included.
func waitRolledOut(ns, name, image string) {
	GinkgoHelper()
	waitReady(ns, name)
	Eventually(func() []string {
		var old []string
		for _, p := range serverPods(ns, name) {
			if p.Spec.Containers[0].Image != image {
				old = append(old, p.Name)
			}
		}
		return old
	}).Should(BeEmpty(), "pods of the previous image are left")
}

// serverPods lists the UserService's serving pods (not its Job's).
func serverPods(ns, name string) []corev1.Pod {
	var list corev1.PodList
	Expect(k8s.List(ctx(), &list, client.InNamespace(ns),
		client.MatchingLabels{"app.kubernetes.io/instance": name, "app.kubernetes.io/component": "server"})).To(Succeed())
	return list.Items
}

// readyPods counts the UserService's serving pods that are Ready and not terminating.
func readyPods(ns, name string) int {
	n := 0
	for _, p := range serverPods(ns, name) {
		if podReady(p) {
			n++
		}
	}
	return n
}

// readyPod returns one of the UserService's Ready serving pods.
func readyPod(ns, name string) corev1.Pod {
	GinkgoHelper()
	for _, p := range serverPods(ns, name) {
		if podReady(p) {
			return p
		}
	}
	Fail(fmt.Sprintf("no Ready pod of %s/%s", ns, name))
	return corev1.Pod{}
}

// podReady reports whether p is Ready and not terminating.
func podReady(p corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue && p.DeletionTimestamp == nil
		}
	}
	return false
}

// setUnschedulable cordons (on) or uncordons every node.
func setUnschedulable(on bool) {
	var nodes corev1.NodeList
	Expect(k8s.List(ctx(), &nodes)).To(Succeed())
	for i := range nodes.Items {
		n := &nodes.Items[i]
		patch := client.MergeFrom(n.DeepCopy())
		n.Spec.Unschedulable = on
		Expect(k8s.Patch(ctx(), n, patch)).To(Succeed())
	}
}

// operatorPods lists the operator's pods that are not terminating.
func operatorPods() []corev1.Pod {
	var list corev1.PodList
	Expect(k8s.List(ctx(), &list, client.InNamespace(operatorNamespace),
		client.MatchingLabels{"app.kubernetes.io/instance": "userservice-operator"})).To(Succeed())
	var out []corev1.Pod
	for _, p := range list.Items {
		if p.DeletionTimestamp == nil {
			out = append(out, p)
		}
	}
	return out
}

// serviceURL returns the UserService's Service on its NodePort on
// 127.0.0.1, once it answers /health there.
func serviceURL(ns, name string) string {
	GinkgoHelper()
	var svc corev1.Service
	Expect(k8s.Get(ctx(), client.ObjectKey{Namespace: ns, Name: name}, &svc)).To(Succeed())
	np := svc.Spec.Ports[0].NodePort
	Expect(np).NotTo(BeZero(), "Service %s/%s has no NodePort", ns, name)
	base := fmt.Sprintf("http://127.0.0.1:%d", np)
	Eventually(func() (int, error) {
		resp, err := http.Get(base + "/health")
		if err != nil {
			return 0, err
		}
		_ = resp.Body.Close()
		return resp.StatusCode, nil
	}).Should(Equal(http.StatusOK), "%s/health through the NodePort", base)
	return base
}

// containerPID returns the host pid of the pod's first container's process.
func containerPID(p corev1.Pod) int {
	GinkgoHelper()
	id := strings.TrimPrefix(p.Status.ContainerStatuses[0].ContainerID, "containerd://")
	out, err := e.run("ctr", "-a", e.clusterDir+"/containerd/containerd.sock", "-n", "k8s.io", "tasks", "ls")
	Expect(err).NotTo(HaveOccurred())
	for line := range strings.SplitSeq(out, "\n") {
		var task string
		var pid int
		if n, _ := fmt.Sscan(line, &task, &pid); n == 2 && task == id {
			return pid
		}
	}
	Fail(fmt.Sprintf("no containerd task %s for pod %s/%s:\n%s", id, p.Namespace, p.Name, out))
	return 0
}

// containerIdentity returns the uid of the pod's process and the mount
// options of its root filesystem, read from /proc on the host.
func containerIdentity(p corev1.Pod) (uid, rootOptions string) {
	GinkgoHelper()
	pid := containerPID(p)
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	Expect(err).NotTo(HaveOccurred())
	for line := range strings.SplitSeq(string(status), "\n") {
		if f := strings.Fields(line); len(f) > 1 && f[0] == "Uid:" {
			uid = f[1]
		}
	}
	mi, err := os.ReadFile(fmt.Sprintf("/proc/%d/mountinfo", pid))
	Expect(err).NotTo(HaveOccurred())
	for line := range strings.SplitSeq(string(mi), "\n") {
		if f := strings.Fields(line); len(f) > 5 && f[4] == "/" {
			rootOptions = f[5]
		}
	}
	return uid, rootOptions
}

// jwtFor returns a token signed with the UserService's generated JWT Secret.
func jwtFor(ns, name string) string {
	GinkgoHelper()
	var s corev1.Secret
	Expect(k8s.Get(ctx(), client.ObjectKey{Namespace: ns, Name: name + "-jwt"}, &s)).To(Succeed())
	token, err := auth.Sign(s.Data["jwt-secret"], "e2e", time.Hour)
	Expect(err).NotTo(HaveOccurred())
	return token
}
