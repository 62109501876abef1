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
package main

import (
	"flag"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseFlagsDefaults(t *testing.T) {
	o := parseFlags(flag.NewFlagSet("manager", flag.ContinueOnError), nil)
	if o.metricsAddr != ":8443" || !o.secureMetrics || o.probeAddr != ":8081" || o.leaderElect ||
		o.userServiceImage != "ghcr.io/userservice-dev/user-service:v0.1.0" || o.watchNamespaces != "" ||
		o.maxConcurrentReconciles != 4 || o.pprofAddr != "0" || o.apiCompression || o.allowedSecretLabel != "" ||
		o.metricsCertPath != "" || o.metricsCertName != "tls.crt" || o.metricsCertKey != "tls.key" {
		t.Errorf("defaults = %+v", o)
	}
}

func TestParseFlags(t *testing.T) {
	o := parseFlags(flag.NewFlagSet("manager", flag.ContinueOnError), []string{
		"--leader-elect", "--watch-namespaces=a,b", "--max-concurrent-reconciles=7",
		"--user-service-image=example.com/us:v2", "--metrics-bind-address=:9443", "--health-probe-bind-address=:9081",
		"--pprof-bind-address=127.0.0.1:6060", "--api-compression", "--allowed-secret-label=userservice.dev/allowed=true",
	})
	if !o.leaderElect || o.watchNamespaces != "a,b" || o.maxConcurrentReconciles != 7 ||
		o.userServiceImage != "example.com/us:v2" || o.metricsAddr != ":9443" || o.probeAddr != ":9081" ||
		o.pprofAddr != "127.0.0.1:6060" || !o.apiCompression || o.allowedSecretLabel != "userservice.dev/allowed=true" {
		t.Errorf("parsed = %+v", o)
	}
}

// TestRunRejectsBadOptions checks that run refuses each bad option with an
// error naming the flag, before it loads a kubeconfig: KUBECONFIG points at
// nothing, so an option that got through would fail later with another error.
func TestRunRejectsBadOptions(t *testing.T) {
	t.Setenv("KUBECONFIG", filepath.Join(t.TempDir(), "none"))
	for name, tc := range map[string]struct {
		o    options
		want string
	}{
		"zero concurrency": {options{maxConcurrentReconciles: 0, userServiceImage: "img"},
			"--max-concurrent-reconciles must be at least 1, got 0"},
		"empty image": {options{maxConcurrentReconciles: 1, userServiceImage: " "},
			"--user-service-image must not be empty"},
		"bad secret label": {options{maxConcurrentReconciles: 1, userServiceImage: "img", allowedSecretLabel: "bad key=x"},
			`--allowed-secret-label "bad key=x": the label key "bad key" is invalid`},
		"missing metrics certificate": {options{maxConcurrentReconciles: 1, userServiceImage: "img", secureMetrics: true,
			metricsCertPath: "/nonexistent", metricsCertName: "tls.crt", metricsCertKey: "tls.key"},
			`--metrics-cert-path "/nonexistent": reading tls.crt`},
		"metrics certificate over HTTP": {options{maxConcurrentReconciles: 1, userServiceImage: "img",
			metricsCertPath: "/", metricsCertName: "tls.crt", metricsCertKey: "tls.key"},
			"--metrics-cert-path is set but --metrics-secure=false serves plain HTTP"},
	} {
		if err := run(tc.o); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: run() error = %v, want one containing %q", name, err, tc.want)
		}
	}
}
