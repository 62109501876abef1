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
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// helloSource is a tiny program standing in for a real binary: it prints a
// usage line for --help and fails for anything else.
const helloSource = `package main

import (
	"fmt"
	"os"
)

func main() {
	if len(os.Args) == 2 && os.Args[1] == "--help" {
		fmt.Printf("Usage: hello (uid %d)\n", os.Getuid())
		return
	}
	os.Exit(3)
}
`

// buildStatic compiles a Go package directory into a static binary in t's temp dir.
func buildStatic(t *testing.T, dir, pkg, out string) string {
	t.Helper()
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", out, pkg)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, b)
	}
	return out
}

// hello caches the path of the hello binary, built once per test run.
var hello struct {
	once sync.Once
	path string
}

// helloBinary builds helloSource once as a static binary and returns its path.
func helloBinary(t *testing.T) string {
	t.Helper()
	hello.once.Do(func() {
		dir, err := os.MkdirTemp("", "imagebuild-hello-")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module hello\n\ngo 1.26\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(helloSource), 0o644); err != nil {
			t.Fatal(err)
		}
		hello.path = buildStatic(t, dir, ".", filepath.Join(dir, "hello"))
	})
	if hello.path == "" {
		t.Fatal("building the hello test binary failed in an earlier test")
	}
	return hello.path
}

// inspected is what checkImage learned about one image tarball.
type inspected struct {
	img    v1.Image
	cfg    *v1.ConfigFile
	rootfs string
	size   int64
}

// checkImage reads an image tarball back, checks the properties every image
// must have (name annotations, user, entrypoint, labels, files, no shell) and
// returns the extracted root filesystem.
func checkImage(t *testing.T, tarball, name, ref, version string) inspected {
	t.Helper()
	img, ann, err := ReadOCITarball(tarball, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if ann[containerdNameAnnotation] != ref || ann[ociRefNameAnnotation] != tagOf(ref) {
		t.Errorf("index annotations = %v, want %s=%s and %s=%s", ann, containerdNameAnnotation, ref, ociRefNameAnnotation, tagOf(ref))
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	c := cfg.Config
	if c.User != "65532:65532" {
		t.Errorf("config user = %q, want 65532:65532", c.User)
	}
	if len(c.Entrypoint) != 1 || c.Entrypoint[0] != "/"+name {
		t.Errorf("config entrypoint = %q, want [/%s]", c.Entrypoint, name)
	}
	if c.Labels["org.opencontainers.image.version"] != version || c.Labels["org.opencontainers.image.source"] == "" {
		t.Errorf("config labels = %v, want org.opencontainers.image.version=%s and a source", c.Labels, version)
	}
	if cfg.OS != "linux" || cfg.Architecture == "" {
		t.Errorf("config platform = %s/%s, want linux/<arch>", cfg.OS, cfg.Architecture)
	}
	rootfs := filepath.Join(t.TempDir(), "rootfs")
	if err := ExtractRootFS(img, rootfs); err != nil {
		t.Fatal(err)
	}
	// The rootfs becomes "/" for a process running as 65532 below.
	if err := os.Chmod(rootfs, 0o755); err != nil {
		t.Fatal(err)
	}
	checkRootFS(t, rootfs, name)
	size, err := UncompressedSize(img)
	if err != nil {
		t.Fatal(err)
	}
	return inspected{img: img, cfg: cfg, rootfs: rootfs, size: size}
}

// checkRootFS checks the files of an extracted image: CA bundle, passwd,
// sticky /tmp, the executable binary, and no shell at all.
func checkRootFS(t *testing.T, rootfs, name string) {
	t.Helper()
	certs, err := os.ReadFile(filepath.Join(rootfs, CACertsPath))
	if err != nil || !bytes.Contains(certs, []byte("BEGIN CERTIFICATE")) {
		t.Errorf("CA bundle %s missing or not PEM: %v", CACertsPath, err)
	}
	passwd, err := os.ReadFile(filepath.Join(rootfs, "etc/passwd"))
	if err != nil || !strings.Contains(string(passwd), "nonroot:x:65532:65532:") {
		t.Errorf("/etc/passwd lacks the nonroot user: %q, %v", passwd, err)
	}
	if st, err := os.Stat(filepath.Join(rootfs, "tmp")); err != nil || st.Mode()&os.ModeSticky == 0 || st.Mode().Perm() != 0o777 {
		t.Errorf("/tmp should be a sticky world-writable directory: %v, %v", st, err)
	}
	if st, err := os.Stat(filepath.Join(rootfs, name)); err != nil || st.Mode().Perm() != 0o755 {
		t.Errorf("/%s should be an executable file with mode 0755: %v, %v", name, st, err)
	}
	for _, sh := range []string{"bin/sh", "bin/bash", "bin/busybox", "usr/bin/sh"} {
		if _, err := os.Lstat(filepath.Join(rootfs, sh)); err == nil {
			t.Errorf("image has a shell at /%s; it must have none", sh)
		}
	}
}

// runInRootFS runs /<name> args inside the extracted filesystem. As root it
// chroots into it and drops to 65532:65532, proving that the binary needs
// nothing but the image and runs as the image's user; otherwise it runs the
// file directly.
func runInRootFS(t *testing.T, rootfs, name string, args ...string) (string, error) {
	t.Helper()
	var cmd *exec.Cmd
	if os.Geteuid() == 0 {
		cmd = exec.Command("/"+name, args...)
		cmd.Dir = "/"
		cmd.Env = []string{"HOME=/home/nonroot", "PATH=/usr/local/bin:/usr/bin:/bin"}
		cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: rootfs, Credential: &syscall.Credential{Uid: 65532, Gid: 65532}}
	} else {
		t.Logf("Not root: running %s without chroot and as the current user", name)
		cmd = exec.Command(filepath.Join(rootfs, name), args...)
	}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestImageFromStaticBinary builds an image around a tiny static binary and
// checks the tarball, its config and its filesystem, then runs the binary.
func TestImageFromStaticBinary(t *testing.T) {
	spec := Spec{Name: "hello", Ref: "example.test/hello:v1.2.3", Binary: helloBinary(t), Title: "hello", Description: "test"}
	opts := Options{Version: "1.2.3", Revision: "abc", Created: time.Unix(1700000000, 0)}
	img, err := Image(spec, opts)
	if err != nil {
		t.Fatal(err)
	}
	tarball := filepath.Join(t.TempDir(), "hello.oci.tar")
	if err := WriteOCITarball(tarball, img, spec.Ref, opts.Created); err != nil {
		t.Fatal(err)
	}
	got := checkImage(t, tarball, "hello", spec.Ref, "1.2.3")
	if got.cfg.Created.Unix() != 1700000000 || got.cfg.Config.Labels["org.opencontainers.image.revision"] != "abc" {
		t.Errorf("created = %v, labels = %v; want the given time and revision", got.cfg.Created, got.cfg.Config.Labels)
	}
	out, err := runInRootFS(t, got.rootfs, "hello", "--help")
	if err != nil || !strings.HasPrefix(out, "Usage: hello") {
		t.Fatalf("running /hello --help in the image: %v, output %q", err, out)
	}
	if os.Geteuid() == 0 && !strings.Contains(out, "uid 65532") {
		t.Errorf("binary ran as %q, want uid 65532", out)
	}
}

// TestImageIsReproducible builds the same image twice and compares digests.
func TestImageIsReproducible(t *testing.T) {
	spec := Spec{Name: "hello", Ref: "example.test/hello:v1", Binary: helloBinary(t)}
	opts := Options{Version: "1", Created: time.Unix(0, 0)}
	digests := make([]v1.Hash, 0, 2)
	for range 2 {
		img, err := Image(spec, opts)
		if err != nil {
			t.Fatal(err)
		}
		d, err := img.Digest()
		if err != nil {
			t.Fatal(err)
		}
		digests = append(digests, d)
	}
	if digests[0] != digests[1] {
		t.Fatalf("two builds of the same inputs differ: %s and %s", digests[0], digests[1])
	}
}

// TestImageRejectsBadInputs checks the errors for a dynamic binary, a missing
// binary, a missing CA bundle and a bad name.
func TestImageRejectsBadInputs(t *testing.T) {
	hello := helloBinary(t)
	cases := []struct {
		name string
		spec Spec
		opts Options
		want string
	}{
		{"dynamic binary", Spec{Name: "true", Binary: "/bin/true"}, Options{}, "CGO_ENABLED=0"},
		{"missing binary", Spec{Name: "x", Binary: "/nonexistent/x"}, Options{}, "reading binary"},
		{"not ELF", Spec{Name: "x", Binary: "/etc/passwd"}, Options{}, "not an ELF executable"},
		{"missing CA bundle", Spec{Name: "x", Binary: hello}, Options{CACertsSource: "/nonexistent.pem"}, "reading CA certificates"},
		{"path as name", Spec{Name: "a/b", Binary: hello}, Options{}, "plain file name"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Image(tc.spec, tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Image() error = %v, want one containing %q", err, tc.want)
			}
		})
	}
}
