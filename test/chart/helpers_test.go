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

// Package chart tests the Helm chart charts/userservice-operator and the
// kustomize install config/default with the real helm and kubectl CLIs, and
// against a real kube-apiserver (envtest) for RBAC and Pod Security.
package chart

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	yamlutil "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/userservice-dev/userservice-operator/internal/testenv"
)

// repoRoot returns the repository root, two levels above this package's
// directory, where go test runs the tests. (The source file's path, from
// runtime.Caller, is not a path on disk under -trimpath.)
func repoRoot(t testing.TB) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// chartDir is the chart under test.
func chartDir(t testing.TB) string {
	return filepath.Join(repoRoot(t), "charts", "userservice-operator")
}

// requireBinary returns path when it is an executable file. Otherwise the test
// fails under CI=true and is skipped elsewhere, with how to get the binary.
func requireBinary(t testing.TB, path, how string) string {
	t.Helper()
	if st, err := os.Stat(path); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
		return path
	}
	testenv.Unavailable(t, fmt.Sprintf("%s is missing: %s", path, how))
	return ""
}

// helmBin returns the Helm CLI that `make helm` installs into bin/.
func helmBin(t testing.TB) string {
	return requireBinary(t, filepath.Join(repoRoot(t), "bin", "helm"),
		"run `make helm` (installs helm v3.22.0 from the Go module proxy)")
}

// kubectlBin returns kubectl: the one hack/k8s-bins.sh builds next to the
// envtest binaries (matching the API server's version) or, failing that, the
// one on PATH.
func kubectlBin(t testing.TB) string {
	if dir := os.Getenv("KUBEBUILDER_ASSETS"); dir != "" {
		if p := filepath.Join(dir, "kubectl"); fileExists(p) {
			return p
		}
	}
	if p, err := exec.LookPath("kubectl"); err == nil {
		return p
	}
	return requireBinary(t, "kubectl",
		"run `hack/k8s-bins.sh kubectl` and set KUBEBUILDER_ASSETS to the directory it prints")
}

// fileExists reports whether path names an existing file.
func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// run runs a command and returns its stdout, and an error carrying stderr.
func run(dir, name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%s %s: %w\n%s", filepath.Base(name),
			strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), nil
}

// helmTemplate renders the chart as release "userservice-operator" in
// namespace ns with the given values YAML and returns the objects.
func helmTemplate(t testing.TB, ns, values string) ([]*unstructured.Unstructured, error) {
	t.Helper()
	return helmTemplateRelease(t, "userservice-operator", ns, values)
}

// mustTemplateRelease renders the chart as the named release, failing the test on error.
func mustTemplateRelease(t testing.TB, release, ns, values string) []*unstructured.Unstructured {
	t.Helper()
	objs, err := helmTemplateRelease(t, release, ns, values)
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

// helmTemplateRelease renders the chart as the named release in namespace ns
// with the given values YAML and returns the objects.
func helmTemplateRelease(t testing.TB, release, ns, values string) ([]*unstructured.Unstructured, error) {
	t.Helper()
	vf := filepath.Join(t.TempDir(), "values.yaml")
	if err := os.WriteFile(vf, []byte(values), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := run(repoRoot(t), helmBin(t), "template", release, chartDir(t), "--namespace", ns, "--values", vf)
	if err != nil {
		return nil, err
	}
	return decodeObjects(out)
}

// mustTemplate is helmTemplate for values that must render.
func mustTemplate(t testing.TB, ns, values string) []*unstructured.Unstructured {
	t.Helper()
	objs, err := helmTemplate(t, ns, values)
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

// decodeObjects splits a multi-document YAML stream into objects, skipping empty documents.
func decodeObjects(stream string) ([]*unstructured.Unstructured, error) {
	dec := yamlutil.NewYAMLOrJSONDecoder(strings.NewReader(stream), 4096)
	var objs []*unstructured.Unstructured
	for {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return objs, nil
			}
			return nil, fmt.Errorf("decoding YAML stream: %w", err)
		}
		if len(m) > 0 {
			objs = append(objs, &unstructured.Unstructured{Object: m})
		}
	}
}

// find returns the objects of the given kind, optionally restricted to a name suffix.
func find(objs []*unstructured.Unstructured, kind, nameSuffix string) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, o := range objs {
		if o.GetKind() == kind && strings.HasSuffix(o.GetName(), nameSuffix) {
			out = append(out, o)
		}
	}
	return out
}

// one returns the single object of kind with the name suffix, failing otherwise.
func one(t testing.TB, objs []*unstructured.Unstructured, kind, nameSuffix string) *unstructured.Unstructured {
	t.Helper()
	found := find(objs, kind, nameSuffix)
	if len(found) != 1 {
		t.Fatalf("found %d %s objects named *%s, want 1", len(found), kind, nameSuffix)
	}
	return found[0]
}

// into converts an unstructured object into a typed one through YAML.
func into(t testing.TB, o *unstructured.Unstructured, typed any) {
	t.Helper()
	b, err := yaml.Marshal(o.Object)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.UnmarshalStrict(b, typed); err != nil {
		t.Fatalf("%s %s does not decode as %T: %v", o.GetKind(), o.GetName(), typed, err)
	}
}

// diff returns a readable difference of two values, empty when equal.
func diff(want, got any) string { return cmp.Diff(want, got) }
