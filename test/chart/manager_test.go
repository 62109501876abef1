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
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	appsv1alpha1 "github.com/userservice-dev/userservice-operator/api/v1alpha1"
	"github.com/userservice-dev/userservice-operator/internal/controller"
	opmanager "github.com/userservice-dev/userservice-operator/internal/manager"
)

// logBuffer collects the manager's and client-go's log lines, so that a test
// can show that no request was refused.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p to the buffer.
func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything logged so far.
func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// logs receives the logs of every manager this package starts.
var logs = &logBuffer{}

// init routes controller-runtime's and klog's logs (reflector list/watch
// errors, event broadcaster errors) into logs.
func init() {
	l := zap.New(zap.WriteTo(logs), zap.UseDevMode(true))
	ctrl.SetLogger(l)
	klog.SetLogger(l)
}

// install is one rendering of the chart applied to the cluster.
type install struct {
	release, namespace string
	sa                 string   // the chart's ServiceAccount: <release>-userservice-operator
	watch              []string // watchNamespaces; empty means all
	apps               string   // namespace where the test's UserService lives
}

// serviceAccount returns the user name the API server gives the chart's ServiceAccount.
func (in install) serviceAccount() string {
	return "system:serviceaccount:" + in.namespace + ":" + in.sa
}

// adminClient returns a controller-runtime client with admin rights and the operator's types.
func adminClient(t *testing.T, c *cluster) client.Client {
	t.Helper()
	cl, err := client.New(c.admin, client.Options{Scheme: opmanager.NewScheme()})
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

// createNamespace creates ns unless it exists.
func createNamespace(t *testing.T, cl client.Client, ns string) {
	t.Helper()
	err := cl.Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
}

// applyRBAC creates the ServiceAccount, roles and bindings among the rendered objects.
func applyRBAC(t *testing.T, cl client.Client, objs []*unstructured.Unstructured) {
	t.Helper()
	n := 0
	for _, o := range objs {
		if !slices.Contains(rbacKinds, o.GetKind()) {
			continue
		}
		if err := cl.Create(t.Context(), o.DeepCopy()); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatalf("creating %s %s/%s: %v", o.GetKind(), o.GetNamespace(), o.GetName(), err)
		}
		n++
	}
	t.Logf("Applied %d ServiceAccount and RBAC objects from the chart", n)
}

// waitAllowed waits until the API server's RBAC authorizer has seen the new
// bindings, so that the manager does not start before its rights exist.
func waitAllowed(t *testing.T, c *cluster, in install) {
	t.Helper()
	checks := []authorizationv1.ResourceAttributes{
		{Namespace: in.apps, Group: "apps.userservice.dev", Resource: "userservices", Verb: "list"},
		{Namespace: in.namespace, Group: "coordination.k8s.io", Resource: "leases", Verb: "create"},
		{Group: "authentication.k8s.io", Resource: "tokenreviews", Verb: "create"},
	}
	for _, ra := range checks {
		what := fmt.Sprintf("%s may %s %s", in.serviceAccount(), ra.Verb, ra.Resource)
		eventually(t, 10*time.Second, what, func() (bool, error) {
			sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
				User: in.serviceAccount(), Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + in.namespace},
				ResourceAttributes: &ra,
			}}
			got, err := c.clientset.AuthorizationV1().SubjectAccessReviews().Create(t.Context(), sar, metav1.CreateOptions{})
			return err == nil && got.Status.Allowed, err
		})
	}
}

// freeAddr returns a free loopback address for the metrics server.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	return l.Addr().String()
}

// startManager starts the operator's manager and controller as cmd/main.go
// builds them, with a config impersonating the chart's ServiceAccount and the
// metrics serving certificate in certDir, and stops it when the test ends.
func startManager(t *testing.T, c *cluster, in install, metricsAddr, certDir string) {
	t.Helper()
	cfg := rest.CopyConfig(c.admin)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: in.serviceAccount()}
	opts := opmanager.Options(opmanager.Config{
		MetricsAddr: metricsAddr, ProbeAddr: "0", SecureMetrics: true, LeaderElect: true,
		LeaderElectionNamespace: in.namespace, Namespaces: in.watch, MetricsCertDir: certDir,
	})
	opts.Controller = config.Controller{SkipNameValidation: ptr.To(true)}
	mgr, err := ctrl.NewManager(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	r := controller.NewUserServiceReconciler(mgr, "ghcr.io/userservice-dev/user-service:v0.1.0")
	if err := r.SetupWithManager(mgr,
		controller.SetupOptions{MaxConcurrentReconciles: 1, Namespaces: in.watch}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("manager stopped with an error: %v", err)
		}
	})
}

// eventually polls cond until it is true or timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var lastErr error
	for time.Now().Before(deadline) {
		ok, err := cond()
		if ok {
			return
		}
		lastErr = err
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("timed out after %s waiting until %s (last error: %v)", timeout, what, lastErr)
}

// reconcileToReady creates a database Secret and a UserService with a
// PodDisruptionBudget, an autoscaler, a NetworkPolicy and a ServiceMonitor
// (created when its CRD is installed) in ns, then plays the parts of the Job
// and Deployment controllers (absent from envtest): it completes the migration
// Job and makes the Deployment available. The operator must create every
// child and finally write Ready=True for the current generation.
func reconcileToReady(t *testing.T, cl client.Client, ns string) {
	t.Helper()
	ctx := t.Context()
	db := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "users-db", Namespace: ns},
		StringData: map[string]string{"url": "postgres://users:secret@postgres:5432/users?sslmode=disable"}}
	dbRef := appsv1alpha1.DatabaseURLSecretRef{Name: "users-db", Key: "url"}
	us := &appsv1alpha1.UserService{ObjectMeta: metav1.ObjectMeta{Name: "users", Namespace: ns}}
	us.Spec = appsv1alpha1.UserServiceSpec{
		Replicas:            ptr.To[int32](2),
		Database:            appsv1alpha1.DatabaseSpec{URLSecretRef: dbRef},
		PodDisruptionBudget: &appsv1alpha1.PodDisruptionBudgetSpec{MinAvailable: ptr.To(intstr.FromInt32(1))},
		Autoscaling:         &appsv1alpha1.AutoscalingSpec{MinReplicas: ptr.To[int32](2), MaxReplicas: 4},
		Monitoring:          appsv1alpha1.MonitoringSpec{ServiceMonitor: &appsv1alpha1.ServiceMonitorSpec{Enabled: true}},
		NetworkPolicy:       &appsv1alpha1.NetworkPolicySpec{Enabled: true},
	}
	for _, o := range []client.Object{db, us} {
		if err := cl.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, cl, ns, "users-jwt", &corev1.Secret{})
	job := migrationJob(t, cl, ns)
	completeJob(t, cl, job)
	dep := waitFor(t, cl, ns, "users", &appsv1.Deployment{}).(*appsv1.Deployment)
	waitFor(t, cl, ns, "users", &corev1.Service{})
	waitFor(t, cl, ns, "users", &policyv1.PodDisruptionBudget{})
	waitFor(t, cl, ns, "users", &autoscalingv2.HorizontalPodAutoscaler{})
	waitFor(t, cl, ns, "users", &networkingv1.NetworkPolicy{})
	if serviceMonitorServed(t, cl) {
		waitFor(t, cl, ns, "users", &monitoringv1.ServiceMonitor{})
	}
	makeAvailable(t, cl, dep)
	eventually(t, 30*time.Second, "UserService "+ns+"/users is Ready for its generation", func() (bool, error) {
		if err := cl.Get(ctx, client.ObjectKeyFromObject(us), us); err != nil {
			return false, err
		}
		ready := meta.FindStatusCondition(us.Status.Conditions, appsv1alpha1.ConditionReady)
		return ready != nil && ready.Status == metav1.ConditionTrue && us.Status.ObservedGeneration == us.Generation,
			fmt.Errorf("status = %+v", us.Status)
	})
	t.Logf("UserService %s/users: %s", ns, us.Status.ReplicasSummary)
}

// waitFor waits until the named object exists and returns it.
func waitFor(t *testing.T, cl client.Client, ns, name string, obj client.Object) client.Object {
	t.Helper()
	eventually(t, 30*time.Second, fmt.Sprintf("the operator created %T %s/%s", obj, ns, name), func() (bool, error) {
		err := cl.Get(t.Context(), client.ObjectKey{Namespace: ns, Name: name}, obj)
		return err == nil, err
	})
	return obj
}

// migrationJob waits for the operator's migration Job in ns and returns it.
func migrationJob(t *testing.T, cl client.Client, ns string) *batchv1.Job {
	t.Helper()
	var jobs batchv1.JobList
	eventually(t, 30*time.Second, "the operator created a migration Job in "+ns, func() (bool, error) {
		err := cl.List(t.Context(), &jobs, client.InNamespace(ns),
			client.MatchingLabels{"app.kubernetes.io/instance": "users"})
		return err == nil && len(jobs.Items) == 1, err
	})
	if !strings.HasPrefix(jobs.Items[0].Name, "users-migrate-") {
		t.Errorf("migration Job is named %q, want users-migrate-<hash>", jobs.Items[0].Name)
	}
	return &jobs.Items[0]
}

// completeJob writes the status the Job controller writes when a Job succeeds.
func completeJob(t *testing.T, cl client.Client, job *batchv1.Job) {
	t.Helper()
	now := metav1.Now()
	job.Status.StartTime, job.Status.CompletionTime, job.Status.Succeeded = &now, &now, 1
	job.Status.Conditions = []batchv1.JobCondition{
		{Type: batchv1.JobSuccessCriteriaMet, Status: corev1.ConditionTrue, LastProbeTime: now, LastTransitionTime: now},
		{Type: batchv1.JobComplete, Status: corev1.ConditionTrue, LastProbeTime: now, LastTransitionTime: now},
	}
	if err := cl.Status().Update(t.Context(), job); err != nil {
		t.Fatalf("completing migration Job %s: %v", job.Name, err)
	}
}

// makeAvailable writes the status the Deployment controller writes when every replica is available.
func makeAvailable(t *testing.T, cl client.Client, dep *appsv1.Deployment) {
	t.Helper()
	eventually(t, 30*time.Second, "the Deployment status is updated", func() (bool, error) {
		if err := cl.Get(t.Context(), client.ObjectKeyFromObject(dep), dep); err != nil {
			return false, err
		}
		n := ptr.Deref(dep.Spec.Replicas, 1)
		dep.Status = appsv1.DeploymentStatus{
			ObservedGeneration: dep.Generation, Replicas: n, UpdatedReplicas: n, ReadyReplicas: n, AvailableReplicas: n,
			Conditions: []appsv1.DeploymentCondition{
				{Type: appsv1.DeploymentAvailable, Status: corev1.ConditionTrue, Reason: "MinimumReplicasAvailable"},
				{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionTrue, Reason: "NewReplicaSetAvailable"},
			},
		}
		err := cl.Status().Update(t.Context(), dep)
		return err == nil, err
	})
}
