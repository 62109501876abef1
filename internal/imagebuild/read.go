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
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
)

// ReadOCITarball unpacks an OCI layout tarball written by WriteOCITarball into
// dir and returns its single image and the index annotations naming it.
func ReadOCITarball(src, dir string) (v1.Image, map[string]string, error) {
	f, err := os.Open(src)
	if err != nil {
		return nil, nil, fmt.Errorf("opening image tarball %q: %w", src, err)
	}
	defer func() { _ = f.Close() }()
	if err := untar(f, dir); err != nil {
		return nil, nil, fmt.Errorf("unpacking image tarball %q: %w", src, err)
	}
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("reading OCI layout from %q: %w", src, err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		return nil, nil, fmt.Errorf("reading index.json of %q: %w", src, err)
	}
	if len(m.Manifests) != 1 {
		return nil, nil, fmt.Errorf("image tarball %q holds %d manifests, want 1", src, len(m.Manifests))
	}
	img, err := idx.Image(m.Manifests[0].Digest)
	if err != nil {
		return nil, nil, fmt.Errorf("reading image %s from %q: %w", m.Manifests[0].Digest, src, err)
	}
	return img, m.Manifests[0].Annotations, nil
}

// untar writes the directories and regular files of a tar stream under dir,
// refusing entries that would land outside it. Other entry types are errors:
// images built here hold none.
func untar(r io.Reader, dir string) error {
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading tar entry: %w", err)
		}
		name := filepath.Clean(hdr.Name)
		if filepath.IsAbs(name) || name == ".." || strings.HasPrefix(name, "../") {
			return fmt.Errorf("tar entry %q points outside the target directory", hdr.Name)
		}
		target := filepath.Join(dir, name)
		mode := os.FileMode(hdr.Mode).Perm()
		if hdr.Mode&0o1000 != 0 {
			mode |= os.ModeSticky
		}
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(target, 0o755); err != nil {
				return fmt.Errorf("creating directory %q: %w", target, err)
			}
			if err := os.Chmod(target, mode); err != nil {
				return fmt.Errorf("setting mode of %q: %w", target, err)
			}
		case tar.TypeReg:
			if err := writeFile(target, tr, mode); err != nil {
				return err
			}
		default:
			return fmt.Errorf("tar entry %q has unsupported type %q", hdr.Name, hdr.Typeflag)
		}
	}
}

// writeFile creates target with mode and the contents of r.
func writeFile(target string, r io.Reader, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
		return fmt.Errorf("creating parent of %q: %w", target, err)
	}
	out, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		return fmt.Errorf("creating %q: %w", target, err)
	}
	if _, err := io.Copy(out, r); err != nil {
		_ = out.Close()
		return fmt.Errorf("writing %q: %w", target, err)
	}
	if err := out.Close(); err != nil {
		return fmt.Errorf("closing %q: %w", target, err)
	}
	return os.Chmod(target, mode)
}

// ExtractRootFS writes the flattened filesystem of img under dir.
func ExtractRootFS(img v1.Image, dir string) error {
	rc := mutate.Extract(img)
	defer func() { _ = rc.Close() }()
	if err := untar(rc, dir); err != nil {
		return fmt.Errorf("extracting image filesystem: %w", err)
	}
	return nil
}
