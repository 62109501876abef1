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
// Package manager builds the operator's controller-runtime manager options,
// shared by cmd/main.go and the tests that start the operator as main does.
package manager

import (
	"crypto/tls"

	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	appsv1alpha1 "github.com/userservice-dev/userservice-operator/api/v1alpha1"
	"github.com/userservice-dev/userservice-operator/internal/controller"
)

// LeaderElectionID is the name of the Lease that elects the active replica.
const LeaderElectionID = "userservice-operator.userservice.dev"

// Config is what the command line decides about the manager.
type Config struct {
	// MetricsAddr is --metrics-bind-address ("0" disables the metrics server).
	MetricsAddr string
	// ProbeAddr is --health-probe-bind-address ("0" disables the probes).
	ProbeAddr string
	// SecureMetrics serves metrics over HTTPS with authentication and authorization.
	SecureMetrics bool
	// EnableHTTP2 allows HTTP/2 on the metrics server (off by default, CVE-2023-44487).
	EnableHTTP2 bool
	// LeaderElect enables leader election.
	LeaderElect bool
	// LeaderElectionNamespace is where the Lease lives ("" = the pod's namespace).
	LeaderElectionNamespace string
	// Namespaces limits the cache to these namespaces (empty = all).
	Namespaces []string
	// PprofAddr is --pprof-bind-address ("" or "0" disables the profiling endpoints).
	PprofAddr string
	// MetricsCertDir is --metrics-cert-path: the directory holding the metrics
	// serving certificate and key, reloaded when they change. Empty: the
	// metrics server signs a certificate of its own at each start.
	MetricsCertDir string
	// MetricsCertName and MetricsKeyName are the file names in MetricsCertDir
	// (--metrics-cert-name and --metrics-cert-key; empty: tls.crt and tls.key).
	MetricsCertName, MetricsKeyName string
}

// NewScheme returns the scheme with the built-in types and the UserService API.
func NewScheme() *runtime.Scheme {
	scheme := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(appsv1alpha1.AddToScheme(scheme))
	return scheme
}

// Options returns the manager options the operator runs with.
func Options(c Config) ctrl.Options {
	return ctrl.Options{
		Scheme:                  NewScheme(),
		Metrics:                 metricsOptions(c),
		HealthProbeBindAddress:  c.ProbeAddr,
		PprofBindAddress:        c.PprofAddr,
		LeaderElection:          c.LeaderElect,
		LeaderElectionID:        LeaderElectionID,
		LeaderElectionNamespace: c.LeaderElectionNamespace,
		// The process exits right after the manager stops, so the Lease can be
		// released at once and a standby takes over without waiting for it to expire.
		LeaderElectionReleaseOnCancel: true,
		Cache:                         controller.CacheOptions(c.Namespaces),
	}
}

// metricsOptions configures the metrics server: HTTPS with authentication and
// authorization by default, as kubebuilder scaffolds it.
func metricsOptions(c Config) metricsserver.Options {
	var tlsOpts []func(*tls.Config)
	if !c.EnableHTTP2 {
		tlsOpts = append(tlsOpts, func(t *tls.Config) { t.NextProtos = []string{"http/1.1"} })
	}
	m := metricsserver.Options{
		BindAddress:   c.MetricsAddr,
		SecureServing: c.SecureMetrics,
		TLSOpts:       tlsOpts,
		CertDir:       c.MetricsCertDir,
		CertName:      c.MetricsCertName,
		KeyName:       c.MetricsKeyName,
	}
	if c.SecureMetrics {
		m.FilterProvider = filters.WithAuthenticationAndAuthorization
	}
	return m
}
