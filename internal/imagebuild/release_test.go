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

package imagebuild

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// maxUserServiceImageBytes is the ceiling for the user-service image, uncompressed.
const maxUserServiceImageBytes = 25 * 1000 * 1000

// release describes one shipped image: the binary's package and the checks on its --help output.
type release struct {
	name, pkg, ref string
	helpMarker     string
}

// TestReleaseImages builds the real manager and user-service binaries the way
// `make images` does, runs hack/images on them, and checks each tarball: user,
// entrypoint, labels, size, and that the binary runs --help inside the image.
func TestReleaseImages(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	releases := []release{
		{name: "manager", pkg: "./cmd", ref: "ghcr.io/userservice-dev/userservice-operator:v0.1.0", helpMarker: "-leader-elect"},
		{name: "user-service", pkg: "./cmd/user-service", ref: "ghcr.io/userservice-dev/user-service:v0.1.0", helpMarker: "user-service"},
	}
	for _, r := range releases {
		if _, err := os.Stat(filepath.Join(root, r.pkg)); err != nil {
			t.Fatalf("package %s is missing from the tree: %v", r.pkg, err)
		}
	}
	bin, out := t.TempDir(), t.TempDir()
	// Built as the binaries are, so that it reuses what they and the tests compiled.
	args := make([]string, 0, 9+2*len(releases))
	args = append(args, "run", "-trimpath", "./hack/images", "--version", "0.1.0", "--revision", "test", "--out", out)
	for _, r := range releases {
		args = append(args, "--image", fmt.Sprintf("%s=%s=%s", r.name, r.ref, buildStatic(t, root, r.pkg, filepath.Join(bin, r.name))))
	}
	cmd := exec.Command("go", args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	b, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go run ./hack/images: %v\n%s", err, b)
	}
	t.Logf("hack/images: %s", b)
	for _, r := range releases {
		t.Run(r.name, func(t *testing.T) { checkRelease(t, filepath.Join(out, r.name+".oci.tar"), r) })
	}
}

// checkRelease checks one release tarball and runs its binary's --help in it.
func checkRelease(t *testing.T, tarball string, r release) {
	got := checkImage(t, tarball, r.name, r.ref, "0.1.0")
	t.Logf("Image %s: %.1f MB uncompressed", r.ref, float64(got.size)/1e6)
	if r.name == "user-service" && got.size > maxUserServiceImageBytes {
		t.Errorf("user-service image is %d bytes uncompressed, want at most %d", got.size, maxUserServiceImageBytes)
	}
	st, err := os.Stat(tarball)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Tarball %s: %.1f MB", filepath.Base(tarball), float64(st.Size())/1e6)
	inspectWithSkopeo(t, tarball, r.ref)
	out, err := runInRootFS(t, got.rootfs, r.name, "--help")
	if err != nil || !strings.Contains(out, r.helpMarker) {
		t.Fatalf("running /%s --help in the image: %v; want output containing %q, got:\n%s", r.name, err, r.helpMarker, out)
	}
}

// inspectWithSkopeo reads the tarball with skopeo, an independent OCI
// implementation, when it is installed (Debian package skopeo), and checks the
// labels it reports.
func inspectWithSkopeo(t *testing.T, tarball, ref string) {
	t.Helper()
	skopeo, err := exec.LookPath("skopeo")
	if err != nil {
		t.Log("skopeo is not installed; skipping the independent read of the OCI archive (apt-get install skopeo)")
		return
	}
	out, err := exec.Command(skopeo, "inspect", "oci-archive:"+tarball).CombinedOutput()
	if err != nil {
		t.Fatalf("skopeo inspect oci-archive:%s: %v\n%s", tarball, err, out)
	}
	if !strings.Contains(string(out), `"org.opencontainers.image.version": "0.1.0"`) {
		t.Errorf("skopeo sees no version label on %s:\n%s", ref, out)
	}
}
