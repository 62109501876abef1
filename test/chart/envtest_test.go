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
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// cluster is one envtest API server (kube-apiserver and etcd, with RBAC
// authorization on) shared by the tests of this package.
type cluster struct {
	env        *envtest.Environment
	admin      *rest.Config
	kubeconfig string
	clientset  *kubernetes.Clientset
	tempDir    string
}

// shared holds the package's cluster, started by the first test that needs it.
var shared struct {
	once    sync.Once
	cluster *cluster
	err     error
}

// TestMain runs the tests, then stops the shared API server if one started.
func TestMain(m *testing.M) {
	code := m.Run()
	if shared.cluster != nil {
		if err := shared.cluster.env.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stopping envtest:", err)
		}
		_ = os.RemoveAll(shared.cluster.tempDir)
	}
	os.Exit(code)
}

// startCluster returns the shared API server, starting it with the CRDs of
// config/crd/bases on first use. Without KUBEBUILDER_ASSETS the test fails
// under CI=true and is skipped elsewhere.
func startCluster(t *testing.T) *cluster {
	t.Helper()
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" || !fileExists(filepath.Join(assets, "kube-apiserver")) {
		requireBinary(t, filepath.Join(assets, "kube-apiserver"),
			"set KUBEBUILDER_ASSETS to the directory `hack/k8s-bins.sh` prints (make test does)")
	}
	shared.once.Do(func() { shared.cluster, shared.err = newCluster() })
	if shared.err != nil {
		t.Fatalf("starting envtest: %v", shared.err)
	}
	return shared.cluster
}

// newCluster starts envtest and writes an admin kubeconfig for kubectl.
func newCluster() (*cluster, error) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		return nil, err
	}
	env := &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join(root, "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
	}
	if _, err := env.Start(); err != nil {
		return nil, fmt.Errorf("starting kube-apiserver and etcd: %w", err)
	}
	c, err := adminOf(env)
	if err != nil {
		_ = env.Stop()
		return nil, err
	}
	return c, nil
}

// adminOf provisions a system:masters user on env and writes its kubeconfig.
func adminOf(env *envtest.Environment) (*cluster, error) {
	user, err := env.AddUser(envtest.User{Name: "test-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return nil, fmt.Errorf("adding the admin user: %w", err)
	}
	kc, err := user.KubeConfig()
	if err != nil {
		return nil, fmt.Errorf("writing the admin kubeconfig: %w", err)
	}
	dir, err := os.MkdirTemp("", "chart-envtest-")
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, "admin.kubeconfig")
	if err := os.WriteFile(path, kc, 0o600); err != nil {
		return nil, fmt.Errorf("writing %s: %w", path, err)
	}
	cs, err := kubernetes.NewForConfig(user.Config())
	if err != nil {
		return nil, fmt.Errorf("building the admin clientset: %w", err)
	}
	return &cluster{env: env, admin: user.Config(), kubeconfig: path, clientset: cs, tempDir: dir}, nil
}

// kubectl runs kubectl as the admin user against the cluster.
func (c *cluster) kubectl(t *testing.T, args ...string) (string, error) {
	t.Helper()
	return run(repoRoot(t), kubectlBin(t), append([]string{"--kubeconfig", c.kubeconfig}, args...)...)
}
