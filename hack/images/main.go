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

// Command images builds the operator and user-service images as OCI layout
// tarballs without a Docker daemon (see internal/imagebuild). `make images`
// runs it:
//
//	go run ./hack/images --version 0.1.0 --out dist \
//	  --image manager=ghcr.io/userservice-dev/userservice-operator:v0.1.0=bin/linux-amd64/manager \
//	  --image user-service=ghcr.io/userservice-dev/user-service:v0.1.0=bin/linux-amd64/user-service
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/userservice-dev/userservice-operator/internal/imagebuild"
)

// descriptions gives the title and description labels of the known images.
var descriptions = map[string][2]string{
	"manager": {"userservice-operator",
		"Kubernetes operator that runs user-service and gates rollouts on its migrations"},
	"user-service": {"user-service", "REST service for users on PostgreSQL"},
	"pause":        {"pause", "Pod sandbox container of the local real-node cluster (hack/local-cluster.sh)"},
}

// imageFlags collects repeated --image name=ref=binary flags.
type imageFlags []imagebuild.Spec

// String returns the flag's value for flag's usage output.
func (f *imageFlags) String() string { return fmt.Sprint(len(*f)) }

// Set parses one name=ref=binary value.
func (f *imageFlags) Set(v string) error {
	parts := strings.SplitN(v, "=", 3)
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" || parts[2] == "" {
		return fmt.Errorf("--image %q: want name=ref=binary, such as "+
			"user-service=ghcr.io/userservice-dev/user-service:v0.1.0=bin/user-service", v)
	}
	d, ok := descriptions[parts[0]]
	if !ok {
		d = [2]string{parts[0], parts[0]}
	}
	*f = append(*f, imagebuild.Spec{Name: parts[0], Ref: parts[1], Binary: parts[2], Title: d[0], Description: d[1]})
	return nil
}

// main runs the command and exits non-zero on error.
func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "images:", err)
		os.Exit(1)
	}
}

// run parses args and writes one <out>/<name>.oci.tar per --image.
func run(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("images", flag.ContinueOnError)
	var images imageFlags
	var opts imagebuild.Options
	var out string
	var epoch int64
	fs.Var(&images, "image", "name=ref=binary of an image to build (repeatable)")
	fs.StringVar(&opts.Version, "version", "0.1.0", "version for the org.opencontainers.image.version label")
	fs.StringVar(&opts.Revision, "revision", "unknown", "source commit for the org.opencontainers.image.revision label")
	fs.StringVar(&opts.CACertsSource, "ca-certs", imagebuild.DefaultCACertsSource, "PEM CA bundle to copy into the images")
	fs.Int64Var(&epoch, "created-epoch", 0,
		"image creation time in Unix seconds (SOURCE_DATE_EPOCH), for reproducible images")
	fs.StringVar(&out, "out", "dist", "directory for the OCI tarballs")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if len(images) == 0 {
		return fmt.Errorf("no --image given: pass at least one name=ref=binary")
	}
	opts.Created = time.Unix(epoch, 0).UTC()
	if err := os.MkdirAll(out, 0o755); err != nil {
		return fmt.Errorf("creating output directory %q: %w", out, err)
	}
	for _, spec := range images {
		img, err := imagebuild.Image(spec, opts)
		if err != nil {
			return fmt.Errorf("building image %q: %w", spec.Name, err)
		}
		dest := filepath.Join(out, spec.Name+".oci.tar")
		if err := imagebuild.WriteOCITarball(dest, img, spec.Ref, opts.Created); err != nil {
			return err
		}
		size, err := imagebuild.UncompressedSize(img)
		if err != nil {
			return err
		}
		if _, err := fmt.Fprintf(stdout, "Wrote %s (%s, %.1f MB uncompressed)\n", dest, spec.Ref,
			float64(size)/1e6); err != nil {
			return err
		}
	}
	return nil
}
