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
		"--leader-elect", "--watch-namespaces=a,b", "--max-concurrent-reconciles=4",
		"--user-service-image=example.com/us:v2", "--metrics-bind-address=:9443", "--health-probe-bind-address=:9081",
		"--pprof-bind-address=127.0.0.1:6060", "--api-compression", "--allowed-secret-label=userservice.dev/allowed=true",
	})
	if !o.leaderElect || o.watchNamespaces != "a,b" || o.maxConcurrentReconciles != 4 ||
		o.userServiceImage != "example.com/us:v2" || o.metricsAddr != ":9443" || o.probeAddr != ":9081" ||
		o.pprofAddr != "127.0.0.1:6060" || !o.apiCompression || o.allowedSecretLabel != "userservice.dev/allowed=true" {
		t.Errorf("parsed = %+v", o)
	}
}

func TestRunRejectsBadOptions(t *testing.T) {
	for name, o := range map[string]options{
		"zero concurrency": {maxConcurrentReconciles: 0, userServiceImage: "img"},
		"empty image":      {maxConcurrentReconciles: 1, userServiceImage: " "},
		"bad secret label": {maxConcurrentReconciles: 1, userServiceImage: "img", allowedSecretLabel: "bad key=x"},
		"missing metrics certificate": {maxConcurrentReconciles: 1, userServiceImage: "img", secureMetrics: true,
			metricsCertPath: "/nonexistent", metricsCertName: "tls.crt", metricsCertKey: "tls.key"},
		"metrics certificate over HTTP": {maxConcurrentReconciles: 1, userServiceImage: "img",
			metricsCertPath: "/", metricsCertName: "tls.crt", metricsCertKey: "tls.key"},
	} {
		if err := run(o); err == nil {
			t.Errorf("%s: run returned nil, want an error", name)
		}
	}
}
