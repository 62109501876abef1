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
// Command manager runs the userservice-operator: it reconciles UserService
// objects into Deployments, Services, Secrets and migration Jobs.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	_ "k8s.io/client-go/plugin/pkg/client/auth"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/userservice-dev/userservice-operator/internal/controller"
	"github.com/userservice-dev/userservice-operator/internal/manager"
)

// defaultUserServiceImage is the default of --user-service-image: the user service released with the operator.
const defaultUserServiceImage = "ghcr.io/userservice-dev/user-service:v0.1.0"

// options holds the command-line flags.
type options struct {
	metricsAddr             string
	probeAddr               string
	secureMetrics           bool
	enableHTTP2             bool
	leaderElect             bool
	leaderElectionNamespace string
	userServiceImage        string
	watchNamespaces         string
	maxConcurrentReconciles int
	pprofAddr               string
	apiCompression          bool
	allowedSecretLabel      string
	metricsCertPath         string
	metricsCertName         string
	metricsCertKey          string
	zap                     zap.Options
}

// main parses the flags and runs the manager until SIGTERM.
func main() {
	opts := parseFlags(flag.CommandLine, os.Args[1:])
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&opts.zap)))
	if err := run(opts); err != nil {
		ctrl.Log.WithName("setup").Error(err, "Manager stopped with an error")
		os.Exit(1)
	}
}

// parseFlags registers and parses the operator's flags.
func parseFlags(fs *flag.FlagSet, args []string) options {
	var o options
	fs.StringVar(&o.metricsAddr, "metrics-bind-address", ":8443",
		"Address the metrics endpoint binds to (:8443 for HTTPS, :8080 for HTTP, 0 to disable).")
	fs.StringVar(&o.probeAddr, "health-probe-bind-address", ":8081", "Address the /healthz and /readyz endpoints bind to.")
	fs.BoolVar(&o.secureMetrics, "metrics-secure", true,
		"Serve metrics over HTTPS with authentication and authorization. Use --metrics-secure=false for HTTP.")
	fs.StringVar(&o.metricsCertPath, "metrics-cert-path", "",
		"Directory holding the metrics server's certificate and key (reloaded when they change); "+
			"empty: the server signs a certificate of its own at each start, which scrapers cannot verify.")
	fs.StringVar(&o.metricsCertName, "metrics-cert-name", "tls.crt",
		"File name of the metrics certificate in --metrics-cert-path.")
	fs.StringVar(&o.metricsCertKey, "metrics-cert-key", "tls.key", "File name of the metrics key in --metrics-cert-path.")
	fs.BoolVar(&o.enableHTTP2, "enable-http2", false,
		"Enable HTTP/2 for the metrics server (off because of CVE-2023-44487).")
	fs.BoolVar(&o.leaderElect, "leader-elect", false, "Elect a leader, so that only one replica reconciles at a time.")
	fs.StringVar(&o.leaderElectionNamespace, "leader-election-namespace", "",
		"Namespace of the leader-election Lease; empty means the pod's own namespace (required out of cluster).")
	fs.StringVar(&o.userServiceImage, "user-service-image", defaultUserServiceImage,
		"Image used for a UserService whose spec.image is empty.")
	fs.StringVar(&o.watchNamespaces, "watch-namespaces", "",
		"Comma-separated namespaces to watch; empty watches all namespaces.")
	fs.IntVar(&o.maxConcurrentReconciles, "max-concurrent-reconciles", 4, "Number of UserServices reconciled in parallel.")
	fs.StringVar(&o.pprofAddr, "pprof-bind-address", "0",
		"Address of the Go profiling endpoints (/debug/pprof/), such as 127.0.0.1:6060; 0 disables them.")
	fs.BoolVar(&o.apiCompression, "api-compression", false,
		"Ask kube-apiserver for gzip-compressed responses. Off by default, as in kube-controller-manager and "+
			"kube-scheduler: next to the API server, compression costs both sides CPU and saves nothing.")
	fs.StringVar(&o.allowedSecretLabel, "allowed-secret-label", "",
		"Label (key=value, or key for any value) that a Secret must carry for a UserService to reference it in "+
			"spec.database.urlSecretRef, spec.auth.jwtSecretRef, spec.events.amqpURLSecretRef or spec.env; "+
			"empty allows every Secret of the UserService's namespace. "+
			"A UserService referencing another Secret reports Degraded, reason SecretNotAllowed.")
	o.zap = zap.Options{Development: false}
	o.zap.BindFlags(fs)
	_ = fs.Parse(args) // flag.CommandLine exits on error.
	return o
}

// run builds the manager from the options, registers the controller and blocks until the context ends.
func run(o options) error {
	log := ctrl.Log.WithName("setup")
	if o.maxConcurrentReconciles < 1 {
		return fmt.Errorf("--max-concurrent-reconciles must be at least 1, got %d", o.maxConcurrentReconciles)
	}
	if strings.TrimSpace(o.userServiceImage) == "" {
		return fmt.Errorf("--user-service-image must not be empty: pass an image such as %s", defaultUserServiceImage)
	}
	allowedSecrets, err := controller.ParseSecretLabel(o.allowedSecretLabel)
	if err != nil {
		return err
	}
	if err := checkMetricsCert(o); err != nil {
		return err
	}
	namespaces := controller.ParseNamespaces(o.watchNamespaces)
	cfg, err := ctrl.GetConfig()
	if err != nil {
		return fmt.Errorf("loading the kubeconfig (in-cluster, --kubeconfig or KUBECONFIG): %w", err)
	}
	cfg.DisableCompression = !o.apiCompression
	mgr, err := ctrl.NewManager(cfg, manager.Options(manager.Config{
		MetricsAddr:             o.metricsAddr,
		ProbeAddr:               o.probeAddr,
		SecureMetrics:           o.secureMetrics,
		EnableHTTP2:             o.enableHTTP2,
		LeaderElect:             o.leaderElect,
		LeaderElectionNamespace: o.leaderElectionNamespace,
		Namespaces:              namespaces,
		PprofAddr:               o.pprofAddr,
		MetricsCertDir:          o.metricsCertPath,
		MetricsCertName:         o.metricsCertName,
		MetricsKeyName:          o.metricsCertKey,
	}))
	if err != nil {
		return fmt.Errorf("creating the manager: %w", err)
	}
	r := controller.NewUserServiceReconciler(mgr, o.userServiceImage)
	r.AllowedSecrets = allowedSecrets
	if err := r.SetupWithManager(mgr, controller.SetupOptions{
		MaxConcurrentReconciles: o.maxConcurrentReconciles,
		Namespaces:              namespaces,
	}); err != nil {
		return fmt.Errorf("setting up the UserService controller: %w", err)
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return fmt.Errorf("adding the health check: %w", err)
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return fmt.Errorf("adding the readiness check: %w", err)
	}
	log.Info("Configured the manager, starting it", "watchNamespaces", namespaces, "userServiceImage", o.userServiceImage,
		"leaderElect", o.leaderElect, "allowedSecretLabel", o.allowedSecretLabel)
	return mgr.Start(ctrl.SetupSignalHandler())
}

// checkMetricsCert refuses a --metrics-cert-path without its files, or without
// HTTPS: the metrics server would otherwise quietly sign a certificate of its
// own, which the scrapers configured to verify the given one then refuse.
func checkMetricsCert(o options) error {
	if o.metricsCertPath == "" {
		return nil
	}
	if !o.secureMetrics {
		return errors.New("--metrics-cert-path is set but --metrics-secure=false serves plain HTTP: drop one of them")
	}
	for _, name := range []string{o.metricsCertName, o.metricsCertKey} {
		if _, err := os.Stat(filepath.Join(o.metricsCertPath, name)); err != nil {
			return fmt.Errorf("--metrics-cert-path %q: reading %s: %w (mount the certificate Secret there, "+
				"or leave the flag empty for a self-signed certificate)", o.metricsCertPath, name, err)
		}
	}
	return nil
}
