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

// Command scale is the measuring half of hack/bench/operator-scale.sh, which
// starts the local cluster and the operator and runs it for each phase
// against the cluster in KUBECONFIG. It prints key=value lines on stdout and
// its progress on stderr:
//
//	scale direct   -n N -namespace NS -cluster-dir D -operator-dir O
//	    baseline: create the children of N instances directly (direct_seconds)
//	scale operator -n N -namespace NS -cluster-dir D -operator-dir O \
//	    -baseline FILE -metrics-url URL -idle 120s -noise 10000
//	    N UserServices through the running operator (operator_seconds,
//	    create_ratio), then its writes while idle and its memory before and
//	    after unrelated objects (idle_writes, rss_*, heap_inuse_mib_*, rss_growth)
//
// Both phases first wait for a quiet machine and print the CPU each cluster
// process (and the operator) used, from /proc, by the pid files of
// hack/local-cluster.sh (D/pids) and hack/lib/local-operator.sh (O/manager.pid).
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
		return fmt.Errorf("a phase is required: direct or operator")
	}
	cfg, err := parseFlags(args[0], args[1:])
	if err != nil {
		return err
	}
	c, err := newClient()
	if err != nil {
		return err
	}
	if args[0] == "direct" {
		return directPhase(ctx, c, cfg)
	}
	return operatorPhase(ctx, c, cfg)
}

// parseFlags parses the flags of phase and checks that those it needs are set.
func parseFlags(phase string, args []string) (config, error) {
	var cfg config
	fs := flag.NewFlagSet(phase, flag.ContinueOnError)
	fs.IntVar(&cfg.n, "n", 500, "number of instances")
	fs.StringVar(&cfg.namespace, "namespace", "", "namespace to create the instances in (required)")
	fs.DurationVar(&cfg.timeout, "timeout", 30*time.Minute,
		"give up creating the instances, or the noise objects, and waiting for them after this long")
	fs.StringVar(&cfg.procs.clusterDir, "cluster-dir", "", "the local cluster's state dir, with its pids/ (required)")
	fs.StringVar(&cfg.procs.operatorDir, "operator-dir", "",
		"the local operator's state dir, with its manager.pid (required)")
	fs.StringVar(&cfg.baseline, "baseline", "", "operator: the direct phase's output, for create_ratio (required)")
	fs.StringVar(&cfg.metricsURL, "metrics-url", "", "operator: the operator's metrics endpoint, over HTTP (required)")
	fs.DurationVar(&cfg.idle, "idle", 120*time.Second, "operator: the idle window of idle_writes")
	fs.IntVar(&cfg.noise, "noise", 10000, "operator: unrelated 4 KiB Secrets and ConfigMaps for rss_growth")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if phase != "direct" && phase != "operator" {
		return cfg, fmt.Errorf("unknown phase %q: use direct or operator", phase)
	}
	if cfg.namespace == "" || cfg.n < 1 || cfg.procs.clusterDir == "" || cfg.procs.operatorDir == "" {
		return cfg, fmt.Errorf("-namespace, -cluster-dir and -operator-dir are required and -n must be positive "+
			"(got %q, %q, %q, %d)", cfg.namespace, cfg.procs.clusterDir, cfg.procs.operatorDir, cfg.n)
	}
	if phase == "operator" && (cfg.baseline == "" || cfg.metricsURL == "" || cfg.noise < 1 || cfg.idle < 0) {
		return cfg, fmt.Errorf("the operator phase needs -baseline, -metrics-url, a positive -noise and an -idle "+
			"of at least 0 (got %q, %q, %d, %s)", cfg.baseline, cfg.metricsURL, cfg.noise, cfg.idle)
	}
	return cfg, nil
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

// instance returns the in-memory UserService number i, with the defaults the
// API server would apply written out.
func instance(ns string, i int) *appsv1alpha1.UserService {
	one := int32(1)
	return &appsv1alpha1.UserService{
		TypeMeta: metav1.TypeMeta{APIVersion: appsv1alpha1.GroupVersion.String(), Kind: "UserService"},
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("u%04d", i),
			UID: "00000000-0000-0000-0000-000000000000"},
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
