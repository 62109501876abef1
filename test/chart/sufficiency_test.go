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
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/userservice-dev/userservice-operator/internal/controller"
	opmanager "github.com/userservice-dev/userservice-operator/internal/manager"
	"github.com/userservice-dev/userservice-operator/internal/testenv"
)

// rbacKinds are the chart objects that make up the operator's identity and permissions.
var rbacKinds = []string{"ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"}

// TestRBACIsSufficient applies only the chart's ServiceAccount and RBAC to a
// real API server, runs the operator's manager and controller with a client
// that impersonates that ServiceAccount (with leader election and the
// authenticated metrics endpoint on, as in the chart), and drives a UserService
// through a full reconcile to Ready. Nothing may be refused along the way.
func TestRBACIsSufficient(t *testing.T) {
	c := startCluster(t)
	for _, in := range []install{
		{release: "cluster", sa: "cluster-userservice-operator", namespace: "uso-cluster", apps: "apps-cluster"},
		{release: "namespaced", sa: "namespaced-userservice-operator", namespace: "uso-namespaced",
			watch: []string{"apps-namespaced", "apps-spare"}, apps: "apps-namespaced"},
	} {
		t.Run(in.namespace, func(t *testing.T) { checkSufficient(t, c, in) })
	}
}

// checkSufficient runs the whole scenario for one install.
func checkSufficient(t *testing.T, c *cluster, in install) {
	admin := adminClient(t, c)
	values := "metrics:\n  enabled: true\n"
	if len(in.watch) > 0 {
		values += "watchNamespaces: [" + strings.Join(in.watch, ", ") + "]\n"
	}
	for _, ns := range append([]string{in.namespace, in.apps}, in.watch...) {
		createNamespace(t, admin, ns)
	}
	objs := mustTemplateRelease(t, in.release, in.namespace, values)
	applyRBAC(t, admin, objs)
	waitAllowed(t, c, in)
	installServiceMonitorCRD(t, c)
	metricsAddr := freeAddr(t)
	before := len(logs.String())
	startManager(t, c, in, metricsAddr, writeServingCert(t, metricsTLS(t, objs)))
	reconcileToReady(t, admin, in.apps)
	checkLease(t, admin, in)
	checkEvents(t, admin, in.apps)
	checkMetricsAuth(t, c, admin, in, objs, metricsAddr)
	for line := range strings.SplitSeq(logs.String()[before:], "\n") {
		if l := strings.ToLower(line); strings.Contains(l, "forbidden") || strings.Contains(l, "cannot ") {
			t.Errorf("a request of the operator was refused: %s", line)
		}
	}
}

// checkLease checks that the manager won leader election through the chart's leader-election Role.
func checkLease(t *testing.T, cl client.Client, in install) {
	t.Helper()
	lease := &coordinationv1.Lease{}
	waitFor(t, cl, in.namespace, opmanager.LeaderElectionID, lease)
	if ptr.Deref(lease.Spec.HolderIdentity, "") == "" {
		t.Errorf("Lease %s/%s has no holder", in.namespace, opmanager.LeaderElectionID)
	}
}

// checkEvents waits for the operator's MigrationStarted and RolloutComplete
// events, which it records as events.k8s.io Events on the UserService.
func checkEvents(t *testing.T, cl client.Client, ns string) {
	t.Helper()
	for _, reason := range []string{controller.EventMigrationStarted, controller.EventRolloutComplete} {
		eventually(t, 30*time.Second, "the operator recorded a "+reason+" event in "+ns, func() (bool, error) {
			var list eventsv1.EventList
			if err := cl.List(t.Context(), &list, client.InNamespace(ns)); err != nil {
				return false, err
			}
			return slices.ContainsFunc(list.Items, func(e eventsv1.Event) bool {
				return e.Reason == reason && e.Regarding.Name == "users"
			}), nil
		})
	}
}

// checkMetricsAuth scrapes the manager's HTTPS metrics endpoint with the token
// of a ServiceAccount bound to the chart's metrics-reader ClusterRole (allowed)
// and of one without (refused). Both answers need the chart's metrics-auth
// rules: the manager reviews each token and access through the API server.
func checkMetricsAuth(t *testing.T, c *cluster, cl client.Client, in install,
	objs []*unstructured.Unstructured, addr string) {
	t.Helper()
	createMetricsReader(t, cl, in, objs)
	if err := cl.Create(t.Context(),
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "nobody", Namespace: in.namespace}}); err != nil {
		t.Fatal(err)
	}
	// Verify the serving certificate as the chart's ServiceMonitor does: with its CA and the Service's name.
	svc := one(t, objs, "Service", "-metrics").GetName()
	serverName := svc + "." + in.namespace + ".svc"
	tlsConfig := &tls.Config{RootCAs: verifyServing(t, metricsTLS(t, objs), serverName), ServerName: serverName,
		MinVersion: tls.VersionTLS12}
	for sa, want := range map[string]int{"prometheus": http.StatusOK, "nobody": http.StatusForbidden} {
		token := serviceAccountToken(t, c, in.namespace, sa)
		eventually(t, 20*time.Second, fmt.Sprintf("GET /metrics as %s answers %d", sa, want), func() (bool, error) {
			code, body, err := scrape(t.Context(), addr, token, tlsConfig)
			if want == http.StatusOK && code == want && !strings.Contains(body, "controller_runtime_reconcile_total") {
				return false, fmt.Errorf("metrics lack controller_runtime_reconcile_total")
			}
			return code == want, fmt.Errorf("status %d, err %v, body %.200s", code, err, body)
		})
	}
}

// createMetricsReader creates the ServiceAccount "prometheus" in the
// install's namespace and binds it to the chart's metrics-reader ClusterRole,
// as the chart's comment tells users to do for their Prometheus.
func createMetricsReader(t *testing.T, cl client.Client, in install, objs []*unstructured.Unstructured) {
	t.Helper()
	reader := one(t, objs, "ClusterRole", "-metrics-reader").GetName()
	if err := cl.Create(t.Context(),
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "prometheus", Namespace: in.namespace}}); err != nil {
		t.Fatal(err)
	}
	crb := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: in.namespace + "-prometheus"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: reader},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: "prometheus", Namespace: in.namespace}},
	}
	if err := cl.Create(t.Context(), crb); err != nil {
		t.Fatal(err)
	}
}

// installServiceMonitorCRD installs the ServiceMonitor CRD (minimal, see
// testenv.ServiceMonitorCRD) unless it exists, and waits until it is served.
func installServiceMonitorCRD(t *testing.T, c *cluster) {
	t.Helper()
	scheme := opmanager.NewScheme()
	if err := apiextensionsv1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	cl, err := client.New(c.admin, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.Create(t.Context(), testenv.ServiceMonitorCRD()); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "the ServiceMonitor CRD is served", func() (bool, error) {
		return serviceMonitorServed(t, cl), nil
	})
}

// serviceMonitorServed reports whether the API server serves ServiceMonitors.
func serviceMonitorServed(t *testing.T, cl client.Client) bool {
	err := cl.List(t.Context(), &monitoringv1.ServiceMonitorList{}, client.Limit(1))
	return err == nil
}

// serviceAccountToken requests a short-lived token for a ServiceAccount.
func serviceAccountToken(t *testing.T, c *cluster, ns, sa string) string {
	t.Helper()
	tr, err := c.clientset.CoreV1().ServiceAccounts(ns).CreateToken(t.Context(), sa,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](600)}},
		metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("requesting a token for %s/%s: %v", ns, sa, err)
	}
	return tr.Status.Token
}

// scrape GETs https://addr/metrics with a bearer token, verifying the
// manager's certificate with tlsConfig.
func scrape(ctx context.Context, addr, token string, tlsConfig *tls.Config) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+addr+"/metrics", nil)
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsConfig}}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer func() { _ = resp.Body.Close() }()
	var b bytes.Buffer
	_, err = b.ReadFrom(resp.Body)
	return resp.StatusCode, b.String(), err
}
