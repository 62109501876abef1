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
package manager

import "testing"

// TestOptions checks the manager options that other parts rely on: the Lease
// name of the contract, secure metrics with authorization, and the label-filtered cache.
func TestOptions(t *testing.T) {
	o := Options(Config{MetricsAddr: ":8443", ProbeAddr: ":8081", SecureMetrics: true, LeaderElect: true,
		Namespaces: []string{"a", "b"}})
	if o.LeaderElectionID != "userservice-operator.userservice.dev" || !o.LeaderElection || !o.LeaderElectionReleaseOnCancel {
		t.Errorf("leader election = %q, %v, release on cancel %v; want the contract's Lease, enabled, released",
			o.LeaderElectionID, o.LeaderElection, o.LeaderElectionReleaseOnCancel)
	}
	if !o.Metrics.SecureServing || o.Metrics.FilterProvider == nil || len(o.Metrics.TLSOpts) != 1 {
		t.Errorf("metrics: secure %v, filter set %v, %d TLS options; want HTTPS with authz and HTTP/2 off",
			o.Metrics.SecureServing, o.Metrics.FilterProvider != nil, len(o.Metrics.TLSOpts))
	}
	if len(o.Cache.DefaultNamespaces) != 2 || len(o.Cache.ByObject) == 0 || o.Cache.DefaultTransform == nil {
		t.Errorf("cache options %+v: want two namespaces, label-filtered children and stripped managedFields", o.Cache)
	}
	if o.Scheme == nil || !o.Scheme.IsGroupRegistered("apps.userservice.dev") {
		t.Error("the scheme does not register apps.userservice.dev")
	}
	certs := Options(Config{SecureMetrics: true, MetricsCertDir: "/certs", MetricsCertName: "c.pem", MetricsKeyName: "k.pem"}).Metrics
	if certs.CertDir != "/certs" || certs.CertName != "c.pem" || certs.KeyName != "k.pem" {
		t.Errorf("metrics certificate = %q %q %q, want the configured directory and file names", certs.CertDir, certs.CertName, certs.KeyName)
	}
	if Options(Config{}).Metrics.FilterProvider != nil {
		t.Error("insecure metrics must not install the authorization filter")
	}
}
