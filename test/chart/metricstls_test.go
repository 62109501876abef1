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

package chart

import (
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// metricsCertDir is where the chart mounts the metrics serving certificate.
const metricsCertDir = "/tmp/k8s-metrics-server/metrics-certs"

// metricsServerName is the name the chart's certificate is valid for, and
// that the ServiceMonitor verifies, for the release userservice-operator in ns.
func metricsServerName(ns string) string {
	return "userservice-operator-metrics." + ns + ".svc"
}

// metricsTLS returns the chart's metrics serving certificate Secret.
func metricsTLS(t *testing.T, objs []*unstructured.Unstructured) *corev1.Secret {
	t.Helper()
	var s corev1.Secret
	into(t, one(t, objs, "Secret", "-metrics-tls"), &s)
	return &s
}

// verifyServing checks that the Secret holds a key pair whose certificate
// ca.crt signs for serverName, and returns the CA pool.
func verifyServing(t *testing.T, s *corev1.Secret, serverName string) *x509.CertPool {
	t.Helper()
	if s.Type != corev1.SecretTypeTLS {
		t.Errorf("Secret %s has type %q, want %q", s.Name, s.Type, corev1.SecretTypeTLS)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(s.Data["ca.crt"]) {
		t.Fatalf("Secret %s: ca.crt holds no PEM certificate", s.Name)
	}
	block, _ := pem.Decode(s.Data["tls.crt"])
	if block == nil || len(s.Data["tls.key"]) == 0 {
		t.Fatalf("Secret %s: tls.crt holds no PEM certificate, or tls.key is empty", s.Name)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cert.Verify(x509.VerifyOptions{DNSName: serverName, Roots: pool,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
		t.Errorf("the certificate does not verify for %s with ca.crt: %v", serverName, err)
	}
	return pool
}

// TestMetricsServingCertificate checks the default rendering: the chart
// generates a CA and a serving certificate for the metrics Service, the
// operator serves it (mounted, --metrics-cert-path), and a ServiceMonitor
// verifies it with the CA and the Service's name instead of skipping verification.
func TestMetricsServingCertificate(t *testing.T) {
	const ns = "userservice-system"
	objs := mustTemplate(t, ns, "metrics:\n  serviceMonitor:\n    enabled: true\n")
	s := metricsTLS(t, objs)
	verifyServing(t, s, metricsServerName(ns))

	d, c := manager(t, objs)
	if !slices.Contains(c.Args, "--metrics-cert-path="+metricsCertDir) {
		t.Errorf("manager args %q lack --metrics-cert-path=%s", c.Args, metricsCertDir)
	}
	mounted := slices.ContainsFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool {
		return m.MountPath == metricsCertDir && m.ReadOnly && slices.ContainsFunc(d.Spec.Template.Spec.Volumes,
			func(v corev1.Volume) bool {
				return v.Name == m.Name && v.Secret != nil && v.Secret.SecretName == s.Name
			})
	})
	if !mounted {
		t.Errorf("the manager does not mount Secret %s read-only at %s: mounts %+v", s.Name, metricsCertDir, c.VolumeMounts)
	}

	tls := serviceMonitorTLS(t, objs)
	if skip, _, _ := unstructured.NestedBool(tls, "insecureSkipVerify"); skip {
		t.Error("the ServiceMonitor skips TLS verification by default")
	}
	if got, _, _ := unstructured.NestedString(tls, "serverName"); got != metricsServerName(ns) {
		t.Errorf("ServiceMonitor serverName = %q, want %q", got, metricsServerName(ns))
	}
	name, _, _ := unstructured.NestedString(tls, "ca", "secret", "name")
	key, _, _ := unstructured.NestedString(tls, "ca", "secret", "key")
	if name != s.Name || key != "ca.crt" {
		t.Errorf("ServiceMonitor CA = secret %q key %q, want %q key ca.crt", name, key, s.Name)
	}

	// insecureSkipVerify: true remains possible, and then names no CA.
	tls = serviceMonitorTLS(t,
		mustTemplate(t, ns, "metrics:\n  serviceMonitor:\n    enabled: true\n    insecureSkipVerify: true\n"))
	if skip, _, _ := unstructured.NestedBool(tls, "insecureSkipVerify"); !skip || tls["ca"] != nil {
		t.Errorf("with insecureSkipVerify: true, tlsConfig = %v, want insecureSkipVerify and no CA", tls)
	}
}

// serviceMonitorTLS returns the tlsConfig of the ServiceMonitor's only endpoint.
func serviceMonitorTLS(t *testing.T, objs []*unstructured.Unstructured) map[string]any {
	t.Helper()
	eps, _, _ := unstructured.NestedSlice(one(t, objs, "ServiceMonitor", "").Object, "spec", "endpoints")
	if len(eps) != 1 {
		t.Fatalf("ServiceMonitor has %d endpoints, want 1", len(eps))
	}
	tls, _, _ := unstructured.NestedMap(eps[0].(map[string]any), "tlsConfig")
	return tls
}

// TestMetricsCertManager renders the chart with cert-manager issuing the
// serving certificate: a Certificate for the Service's names into the Secret
// the operator mounts, and no Secret generated by Helm.
func TestMetricsCertManager(t *testing.T) {
	const ns = "userservice-system"
	objs := mustTemplate(t, ns, `metrics:
  certManager:
    enabled: true
    issuerRef: {name: cluster-ca, kind: ClusterIssuer}
  serviceMonitor:
    enabled: true
`)
	if got := find(objs, "Secret", "-metrics-tls"); len(got) != 0 {
		t.Error("with cert-manager, the chart also generates the Secret")
	}
	cert := one(t, objs, "Certificate", "-metrics")
	secretName, _, _ := unstructured.NestedString(cert.Object, "spec", "secretName")
	dnsNames, _, _ := unstructured.NestedStringSlice(cert.Object, "spec", "dnsNames")
	issuer, _, _ := unstructured.NestedString(cert.Object, "spec", "issuerRef", "name")
	if secretName != "userservice-operator-metrics-tls" || !slices.Contains(dnsNames, metricsServerName(ns)) ||
		issuer != "cluster-ca" {
		t.Errorf("Certificate secretName %q, dnsNames %q, issuer %q", secretName, dnsNames, issuer)
	}
	if name, _, _ := unstructured.NestedString(serviceMonitorTLS(t, objs), "ca", "secret", "name"); name != secretName {
		t.Errorf("ServiceMonitor CA Secret = %q, want %q", name, secretName)
	}
	if _, err := helmTemplate(t, ns, "metrics:\n  certManager:\n    enabled: true\n"); err == nil ||
		!strings.Contains(err.Error(), "metrics.certManager.issuerRef.name") {
		t.Errorf("cert-manager without an issuer: err = %v, want one naming metrics.certManager.issuerRef.name", err)
	}
}

// TestMetricsCertificateKeptOnUpgrade installs the chart into a real API
// server and upgrades it: the generated certificate must not change, so that
// Prometheus keeps trusting the operator across upgrades.
func TestMetricsCertificateKeptOnUpgrade(t *testing.T) {
	c := startCluster(t)
	const ns = "metrics-upgrade"
	args := []string{chartDir(t), "--kubeconfig", c.kubeconfig, "--namespace", ns}
	if out, err := run(repoRoot(t), helmBin(t),
		append([]string{"install", "userservice-operator"}, append(args, "--create-namespace")...)...); err != nil {
		t.Fatalf("helm install: %v\n%s", err, out)
	}
	get := func() *corev1.Secret {
		s, err := c.clientset.CoreV1().Secrets(ns).Get(t.Context(), "userservice-operator-metrics-tls", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	before := get()
	verifyServing(t, before, metricsServerName(ns))
	if out, err := run(repoRoot(t), helmBin(t),
		append([]string{"upgrade", "userservice-operator"}, append(args, "--set", "replicas=2")...)...); err != nil {
		t.Fatalf("helm upgrade: %v\n%s", err, out)
	}
	after := get()
	for _, k := range []string{"ca.crt", "tls.crt", "tls.key"} {
		if string(after.Data[k]) != string(before.Data[k]) {
			t.Errorf("helm upgrade changed %s of the metrics certificate Secret", k)
		}
	}
}

// writeServingCert writes the chart's certificate and key into a new
// directory, as the chart's Secret volume does, and returns it.
func writeServingCert(t *testing.T, s *corev1.Secret) string {
	t.Helper()
	dir := t.TempDir()
	for _, k := range []string{"tls.crt", "tls.key"} {
		if err := os.WriteFile(filepath.Join(dir, k), s.Data[k], 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}
