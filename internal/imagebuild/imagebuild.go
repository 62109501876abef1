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

// Package imagebuild builds minimal container images for static Go binaries
// without a Docker daemon. Each image starts from an empty base and holds one
// layer with CA certificates, /etc/passwd, /etc/group and /tmp (what
// distroless/static:nonroot provides) and one layer with the binary. Images
// run as 65532:65532 and have no shell.
package imagebuild

import (
	"bytes"
	"debug/elf"
	"fmt"
	"io"
	"os"
	"path"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

const (
	// NonRootUser is the user and group every image runs as, as in distroless's nonroot variant.
	NonRootUser = "65532:65532"
	// CACertsPath is where the CA bundle is placed in the image, the path Go's crypto/x509 reads first.
	CACertsPath = "/etc/ssl/certs/ca-certificates.crt"
	// DefaultCACertsSource is the Debian system bundle that is copied into the image.
	DefaultCACertsSource = "/etc/ssl/certs/ca-certificates.crt"
	// SourceURL is the repository stamped into the org.opencontainers.image.source label.
	SourceURL = "https://github.com/userservice-dev/userservice-operator"
)

// Spec describes one image to build.
type Spec struct {
	// Name is the binary's name; the binary is placed at /<Name> and is the entrypoint.
	Name string
	// Ref is the full image reference, such as ghcr.io/userservice-dev/user-service:v0.1.0.
	Ref string
	// Binary is the path of the static binary on disk.
	Binary string
	// Title and Description fill the matching OCI labels.
	Title       string
	Description string
}

// Options holds what is common to every image of one build.
type Options struct {
	// Version fills org.opencontainers.image.version, such as 0.1.0.
	Version string
	// Revision is the source commit, for org.opencontainers.image.revision.
	Revision string
	// Created is the image creation time; a fixed value keeps builds reproducible.
	Created time.Time
	// CACertsSource is the PEM bundle copied into the image; DefaultCACertsSource when empty.
	CACertsSource string
}

// Image builds the image described by spec from an empty base.
func Image(spec Spec, opts Options) (v1.Image, error) {
	if spec.Name == "" || path.Base(spec.Name) != spec.Name {
		return nil, fmt.Errorf("image name %q must be a plain file name such as user-service", spec.Name)
	}
	binary, err := os.ReadFile(spec.Binary)
	if err != nil {
		return nil, fmt.Errorf("reading binary for image %q: %w", spec.Name, err)
	}
	arch, err := staticELFArch(binary)
	if err != nil {
		return nil, fmt.Errorf("checking binary %q: %w", spec.Binary, err)
	}
	caSource := opts.CACertsSource
	if caSource == "" {
		caSource = DefaultCACertsSource
	}
	certs, err := os.ReadFile(caSource)
	if err != nil {
		return nil, fmt.Errorf("reading CA certificates %q (install Debian's ca-certificates or set the CA bundle path): %w", caSource, err)
	}
	base, err := layer(baseFiles(certs), opts.Created)
	if err != nil {
		return nil, fmt.Errorf("building base layer: %w", err)
	}
	app, err := layer([]file{{name: spec.Name, mode: 0o755, data: binary}}, opts.Created)
	if err != nil {
		return nil, fmt.Errorf("building binary layer: %w", err)
	}
	return assemble(spec, opts, arch, base, app)
}

// assemble stacks the layers on an empty OCI image and sets its config.
func assemble(spec Spec, opts Options, arch string, layers ...v1.Layer) (v1.Image, error) {
	created := v1.Time{Time: opts.Created.UTC()}
	adds := []mutate.Addendum{
		{Layer: layers[0], History: v1.History{Created: created, CreatedBy: "imagebuild: CA certificates, passwd, group, tmp", Comment: "base"}},
		{Layer: layers[1], History: v1.History{Created: created, CreatedBy: "imagebuild: COPY " + spec.Name + " /" + spec.Name}},
	}
	img := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	img, err := mutate.Append(img, adds...)
	if err != nil {
		return nil, fmt.Errorf("appending layers: %w", err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("reading image config: %w", err)
	}
	cfg = cfg.DeepCopy()
	cfg.OS, cfg.Architecture, cfg.Created = "linux", arch, created
	cfg.Config = v1.Config{
		User:       NonRootUser,
		Entrypoint: []string{"/" + spec.Name},
		WorkingDir: "/",
		Env: []string{
			"PATH=/usr/local/bin:/usr/bin:/bin",
			"SSL_CERT_FILE=" + CACertsPath,
		},
		Labels: Labels(spec, opts),
	}
	return mutate.ConfigFile(img, cfg)
}

// Labels returns the OCI annotation keys set as image labels.
func Labels(spec Spec, opts Options) map[string]string {
	return map[string]string{
		"org.opencontainers.image.title":       spec.Title,
		"org.opencontainers.image.description": spec.Description,
		"org.opencontainers.image.version":     opts.Version,
		"org.opencontainers.image.revision":    opts.Revision,
		"org.opencontainers.image.created":     opts.Created.UTC().Format(time.RFC3339),
		"org.opencontainers.image.source":      SourceURL,
		"org.opencontainers.image.licenses":    "Apache-2.0",
	}
}

// staticELFArch checks that binary is a statically linked Linux ELF file and
// returns its architecture in OCI terms (amd64, arm64).
func staticELFArch(binary []byte) (string, error) {
	f, err := elf.NewFile(bytes.NewReader(binary))
	if err != nil {
		return "", fmt.Errorf("not an ELF executable (build it with GOOS=linux): %w", err)
	}
	defer func() { _ = f.Close() }()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return "", fmt.Errorf("binary is dynamically linked and would not run on an empty base; build it with CGO_ENABLED=0")
		}
	}
	switch f.Machine {
	case elf.EM_X86_64:
		return "amd64", nil
	case elf.EM_AARCH64:
		return "arm64", nil
	default:
		return "", fmt.Errorf("unsupported ELF machine %v: build for amd64 or arm64", f.Machine)
	}
}

// layer turns files into an uncompressed-on-the-fly OCI layer.
func layer(files []file, created time.Time) (v1.Layer, error) {
	data, err := tarFiles(files, created)
	if err != nil {
		return nil, err
	}
	opener := func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }
	return tarball.LayerFromOpener(opener, tarball.WithMediaType(types.OCILayer))
}

// UncompressedSize returns the sum of the uncompressed sizes of img's layers,
// which is what the image takes on a node's disk once unpacked.
func UncompressedSize(img v1.Image) (int64, error) {
	layers, err := img.Layers()
	if err != nil {
		return 0, fmt.Errorf("listing image layers: %w", err)
	}
	var total int64
	for _, l := range layers {
		rc, err := l.Uncompressed()
		if err != nil {
			return 0, fmt.Errorf("opening layer: %w", err)
		}
		n, err := io.Copy(io.Discard, rc)
		_ = rc.Close()
		if err != nil {
			return 0, fmt.Errorf("reading layer: %w", err)
		}
		total += n
	}
	return total, nil
}
