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

// Command scale is the Go half of hack/bench/operator-scale.sh. It drives one
// phase of the benchmark against the cluster in KUBECONFIG and prints one
// key=value line:
//
//	scale direct   -n N -namespace NS   # baseline: create the children directly
//	scale operator -n N -namespace NS   # create N UserServices, wait for Ready
//	scale noise    -n N -namespace NS   # N unrelated 4 KiB Secrets and ConfigMaps
//
// The baseline builds the children with internal/resources, the operator's
// own builders, and applies the operator's rollout order: the JWT Secret and
// the migration Job first, then the Deployment and Service of each instance
// once its Job has completed. Like the operator's, the children carry a
// controller owner reference (to one ConfigMap, as the UserServices exist
// only in memory), and the Jobs the operator's TTL. It uses one client with
// the operator's QPS settings (controller-runtime's defaults: no client-side
// rate limit) and, like the operator, without response compression.
package main

import (
	"context"
	"crypto/rand"
	"flag"
	"fmt"
	"os"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	appsv1alpha1 "github.com/userservice-dev/userservice-operator/api/v1alpha1"
)

// image is what every benchmark instance runs; kwok runs nothing.
const image = "ghcr.io/userservice-dev/user-service:v0.1.0"

// main runs one phase and exits non-zero on error.
func main() {
	if err := run(context.Background(), os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "scale: %v\n", err)
		os.Exit(1)
	}
}

// run parses the phase and its flags and runs it.
func run(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("a phase is required: direct, operator or noise")
	}
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	n := fs.Int("n", 500, "number of instances (direct, operator) or objects (noise)")
	ns := fs.String("namespace", "", "namespace to create the objects in (required)")
	timeout := fs.Duration("timeout", 30*time.Minute, "give up after this long")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *ns == "" || *n < 1 {
		return fmt.Errorf("-namespace is required and -n must be positive (got %q, %d)", *ns, *n)
	}
	c, err := newClient()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	switch args[0] {
	case "direct":
		return timed("direct_seconds", func() error { return direct(ctx, c, *ns, *n) })
	case "operator":
		return timed("operator_seconds", func() error { return viaOperator(ctx, c, *ns, *n) })
	case "noise":
		return timed("noise_seconds", func() error { return noise(ctx, c, *ns, *n) })
	}
	return fmt.Errorf("unknown phase %q: use direct, operator or noise", args[0])
}

// newClient returns a client for KUBECONFIG with the operator's settings:
// controller-runtime's default rate limits, and no response compression.
func newClient() (client.WithWatch, error) {
	scheme := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(appsv1alpha1.AddToScheme(scheme))
	cfg, err := ctrl.GetConfig()
	if err != nil {
		return nil, fmt.Errorf("loading KUBECONFIG: %w", err)
	}
	cfg.DisableCompression = true // as the operator does by default (--api-compression=false)
	return client.NewWithWatch(cfg, client.Options{Scheme: scheme})
}

// timed runs f and prints key=<seconds>.
func timed(key string, f func() error) error {
	start := time.Now()
	if err := f(); err != nil {
		return err
	}
	fmt.Printf("%s=%.2f\n", key, time.Since(start).Seconds())
	return nil
}

// instance returns the in-memory UserService number i, with the defaults the
// API server would apply written out.
func instance(ns string, i int) *appsv1alpha1.UserService {
	one := int32(1)
	return &appsv1alpha1.UserService{
		TypeMeta:   metav1.TypeMeta{APIVersion: appsv1alpha1.GroupVersion.String(), Kind: "UserService"},
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("u%04d", i), UID: "00000000-0000-0000-0000-000000000000"},
		Spec: appsv1alpha1.UserServiceSpec{
			Image:    image,
			Replicas: &one,
			Database: appsv1alpha1.DatabaseSpec{URLSecretRef: appsv1alpha1.DatabaseURLSecretRef{Name: "db", Key: "url"}},
		},
	}
}

// noise creates n unrelated objects of 4 KiB, half Secrets, half ConfigMaps.
func noise(ctx context.Context, c client.Client, ns string, n int) error {
	payload := make([]byte, 4096)
	for i := range n {
		if _, err := rand.Read(payload); err != nil {
			return err
		}
		meta := metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("noise-%05d", i)}
		var obj client.Object
		if i%2 == 0 {
			obj = &corev1.Secret{ObjectMeta: meta, Data: map[string][]byte{"blob": append([]byte(nil), payload...)}}
		} else {
			obj = &corev1.ConfigMap{ObjectMeta: meta, BinaryData: map[string][]byte{"blob": append([]byte(nil), payload...)}}
		}
		if err := c.Create(ctx, obj); err != nil {
			return fmt.Errorf("creating noise object %s: %w", meta.Name, err)
		}
	}
	return nil
}
