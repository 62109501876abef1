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
	"archive/tar"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
)

// Annotations that name an image inside an OCI layout: containerd's
// `ctr images import` reads the first, the OCI spec defines the second (the tag).
const (
	containerdNameAnnotation = "io.containerd.image.name"
	ociRefNameAnnotation     = "org.opencontainers.image.ref.name"
)

// WriteOCITarball writes img as an OCI image layout packed into one tar file
// at dest, importable with `ctr images import` and `skopeo copy oci-archive:`.
func WriteOCITarball(dest string, img v1.Image, ref string, created time.Time) error {
	dir, err := os.MkdirTemp("", "imagebuild-layout-")
	if err != nil {
		return fmt.Errorf("creating a temporary layout directory: %w", err)
	}
	defer func() { _ = os.RemoveAll(dir) }()
	lp, err := layout.Write(dir, empty.Index)
	if err != nil {
		return fmt.Errorf("initialising OCI layout: %w", err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return fmt.Errorf("reading image config: %w", err)
	}
	annotations := map[string]string{containerdNameAnnotation: ref, ociRefNameAnnotation: tagOf(ref)}
	platform := v1.Platform{OS: cfg.OS, Architecture: cfg.Architecture}
	if err := lp.AppendImage(img, layout.WithAnnotations(annotations), layout.WithPlatform(platform)); err != nil {
		return fmt.Errorf("writing image %q into the OCI layout: %w", ref, err)
	}
	return tarDir(dir, dest, created)
}

// tagOf returns the tag of an image reference, or "latest" when it has none.
func tagOf(ref string) string {
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		return ref[i+1:]
	}
	return "latest"
}

// tarDir packs the regular files and directories under dir into dest with
// sorted names, root ownership and a fixed time, so that output is reproducible.
func tarDir(dir, dest string, created time.Time) (err error) {
	var names []string
	walkErr := filepath.WalkDir(dir, func(p string, _ fs.DirEntry, err error) error {
		if err == nil && p != dir {
			names = append(names, p)
		}
		return err
	})
	if walkErr != nil {
		return fmt.Errorf("listing layout directory %q: %w", dir, walkErr)
	}
	sort.Strings(names)
	out, err := os.Create(dest)
	if err != nil {
		return fmt.Errorf("creating image tarball %q: %w", dest, err)
	}
	defer func() {
		if cerr := out.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("closing image tarball %q: %w", dest, cerr)
		}
	}()
	tw := tar.NewWriter(out)
	for _, p := range names {
		if err := addToTar(tw, dir, p, created); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("finishing image tarball %q: %w", dest, err)
	}
	return nil
}

// addToTar writes the file or directory p, named relative to root, into tw.
func addToTar(tw *tar.Writer, root, p string, created time.Time) error {
	info, err := os.Stat(p)
	if err != nil {
		return fmt.Errorf("reading %q: %w", p, err)
	}
	rel, err := filepath.Rel(root, p)
	if err != nil {
		return fmt.Errorf("naming %q inside the layout: %w", p, err)
	}
	hdr := &tar.Header{Name: filepath.ToSlash(rel), Mode: 0o644, ModTime: created.UTC(), Typeflag: tar.TypeReg, Size: info.Size()}
	if info.IsDir() {
		hdr.Name, hdr.Mode, hdr.Typeflag, hdr.Size = hdr.Name+"/", 0o755, tar.TypeDir, 0
	}
	if err := tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("writing tar header for %q: %w", rel, err)
	}
	if info.IsDir() {
		return nil
	}
	f, err := os.Open(p)
	if err != nil {
		return fmt.Errorf("opening %q: %w", p, err)
	}
	defer func() { _ = f.Close() }()
	if _, err := io.Copy(tw, f); err != nil {
		return fmt.Errorf("copying %q into the tarball: %w", rel, err)
	}
	return nil
}
