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
package controller

// RBAC: least privilege for what the reconciler reads and writes.
// +kubebuilder:rbac:groups=apps.userservice.dev,resources=userservices,verbs=get;list;watch
// +kubebuilder:rbac:groups=apps.userservice.dev,resources=userservices/status,verbs=patch
// +kubebuilder:rbac:groups=apps.userservice.dev,resources=userservices/finalizers,verbs=update
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch;create
// +kubebuilder:rbac:groups="",resources=services,verbs=get;list;watch;create;patch
// +kubebuilder:rbac:groups=apps,resources=deployments,verbs=get;list;watch;create;patch
// +kubebuilder:rbac:groups=batch,resources=jobs,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups=policy,resources=poddisruptionbudgets,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups=autoscaling,resources=horizontalpodautoscalers,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups=networking.k8s.io,resources=networkpolicies,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups=monitoring.coreos.com,resources=servicemonitors,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	appsv1alpha1 "github.com/userservice-dev/userservice-operator/api/v1alpha1"
	"github.com/userservice-dev/userservice-operator/internal/resources"
)

// migrationJobOwnerIndex indexes Jobs by the name of the UserService that
// controls them, so that pruning lists one UserService's Jobs, not the namespace's.
const migrationJobOwnerIndex = "userservice.dev/job-owner"

// conflictRecheckInterval is how often a UserService whose child name is taken
// by another object is reconciled again, since that object's removal brings no watch event.
const conflictRecheckInterval = time.Minute

// UserServiceReconciler reconciles a UserService into its Deployment, Service,
// Secrets, migration Jobs, PodDisruptionBudget, HorizontalPodAutoscaler,
// NetworkPolicy and ServiceMonitor.
type UserServiceReconciler struct {
	// Client reads from the manager's label-filtered cache and writes to the API server.
	Client client.Client
	// APIReader reads user-owned Secrets directly from the API server, so that
	// they never enter a cache.
	APIReader client.Reader
	// Recorder emits events.k8s.io Events on UserServices.
	Recorder events.EventRecorder
	// DefaultImage is used when spec.image is empty (--user-service-image).
	DefaultImage string
	// Random is the source of generated Secrets.
	Random io.Reader
	// AllowedSecrets, when set (--allowed-secret-label), is the label a Secret
	// must carry for a UserService to reference it; nil allows every Secret
	// of the UserService's namespace.
	AllowedSecrets labels.Selector
	// secrets remembers what the operator needs of the Secrets UserServices
	// use, read with APIReader, until their next watch event; SetupWithManager
	// sets it with the Secret watch. When nil, every reconcile reads them.
	secrets *referencedSecrets
	// monitors serves the ServiceMonitors while their CRD is installed;
	// SetupWithManager sets it. When nil, the CRD is taken as not installed.
	monitors *serviceMonitorWatch
}

// SetupOptions configure the controller's watches and concurrency.
type SetupOptions struct {
	// MaxConcurrentReconciles is the number of UserServices reconciled in parallel.
	MaxConcurrentReconciles int
	// Namespaces limits the Secret metadata watch and the ServiceMonitor
	// cache, as --watch-namespaces does for the manager's cache.
	Namespaces []string
	// CRDCheckInterval is how often discovery is asked whether the
	// ServiceMonitor CRD was installed or removed (0: DefaultCRDCheckInterval).
	CRDCheckInterval time.Duration
}

// NewUserServiceReconciler returns a reconciler using the manager's client,
// uncached reader and event recorder.
func NewUserServiceReconciler(mgr ctrl.Manager, defaultImage string) *UserServiceReconciler {
	return &UserServiceReconciler{
		Client:       mgr.GetClient(),
		APIReader:    mgr.GetAPIReader(),
		Recorder:     mgr.GetEventRecorder(resources.FieldOwner),
		DefaultImage: defaultImage,
		Random:       rand.Reader,
	}
}

// SetupWithManager registers the controller: it watches UserServices, the
// children they own, and the metadata of every Secret, so that a Secret a
// UserService uses (referenced or generated) appearing or changing triggers a
// reconcile of the UserServices using it, and is read again from the API
// server rather than from r.secrets. No Secret enters the manager's cache.
// ServiceMonitors are watched once their CRD is served (see
// serviceMonitorWatch). It also registers the per-UserService metrics.
func (r *UserServiceReconciler) SetupWithManager(mgr ctrl.Manager, o SetupOptions) error {
	ctx := context.Background()
	if err := mgr.GetFieldIndexer().IndexField(ctx, &batchv1.Job{}, migrationJobOwnerIndex, jobOwner); err != nil {
		return fmt.Errorf("indexing Jobs by their UserService: %w", err)
	}
	metadataClient, err := metadata.NewForConfigAndClient(mgr.GetConfig(), mgr.GetHTTPClient())
	if err != nil {
		return fmt.Errorf("creating the metadata client for the Secret watch: %w", err)
	}
	r.secrets = newReferencedSecrets()
	secrets := newSecretWatch(metadataClient, o.Namespaces,
		func(key client.ObjectKey, resourceVersion string, deleted bool) []reconcile.Request {
			return requests(r.secrets.changed(key, resourceVersion, deleted))
		},
		func(ctx context.Context, namespace string) []reconcile.Request {
			r.secrets.forgetAll(namespace)
			return r.allUserServices(ctx, namespace)
		})
	all := func(ctx context.Context) []reconcile.Request { return r.allUserServices(ctx, metav1.NamespaceAll) }
	if r.monitors, err = newServiceMonitors(mgr, o, all); err != nil {
		return err
	}
	if err := registerCollector(newStatusCollector(mgr.GetCache(), mgr.Elected())); err != nil {
		return fmt.Errorf("registering the UserService metrics: %w", err)
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&appsv1alpha1.UserService{}).
		Owns(&appsv1.Deployment{}).
		Owns(&corev1.Service{}).
		Owns(&batchv1.Job{}).
		Owns(&policyv1.PodDisruptionBudget{}).
		Owns(&autoscalingv2.HorizontalPodAutoscaler{}).
		Owns(&networkingv1.NetworkPolicy{}).
		WatchesRawSource(secrets).
		WatchesRawSource(r.monitors).
		WithOptions(controller.Options{MaxConcurrentReconciles: max(o.MaxConcurrentReconciles, 1)}).
		Named("userservice").
		Complete(r)
}

// requests returns a reconcile request for each UserService key.
func requests(keys []client.ObjectKey) []reconcile.Request {
	reqs := make([]reconcile.Request, 0, len(keys))
	for _, k := range keys {
		reqs = append(reqs, reconcile.Request{NamespacedName: k})
	}
	return reqs
}

// jobOwner returns the name of the UserService controlling a Job, for the field index.
func jobOwner(obj client.Object) []string {
	if ref := metav1.GetControllerOf(obj); ref != nil && ref.Kind == "UserService" &&
		ref.APIVersion == appsv1alpha1.GroupVersion.String() {
		return []string{ref.Name}
	}
	return nil
}

// allUserServices returns requests for every UserService in namespace ("" = all).
func (r *UserServiceReconciler) allUserServices(ctx context.Context, namespace string) []reconcile.Request {
	return r.listRequests(ctx, client.InNamespace(namespace))
}

// listRequests lists UserServices from the cache and returns a request for each.
func (r *UserServiceReconciler) listRequests(ctx context.Context, opts ...client.ListOption) []reconcile.Request {
	var list appsv1alpha1.UserServiceList
	if err := r.Client.List(ctx, &list, opts...); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "Failed to list UserServices for a Secret event")
		return nil
	}
	reqs := make([]reconcile.Request, 0, len(list.Items))
	for _, us := range list.Items {
		reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&us)})
	}
	return reqs
}

// Reconcile drives one UserService toward its spec, one phase after another,
// and writes its status once at the end, only if it changed.
func (r *UserServiceReconciler) Reconcile(ctx context.Context, req ctrl.Request) (_ ctrl.Result, retErr error) {
	us := &appsv1alpha1.UserService{}
	if err := r.Client.Get(ctx, req.NamespacedName, us); err != nil {
		if apierrors.IsNotFound(err) {
			r.secrets.use(req.NamespacedName, nil)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !us.DeletionTimestamp.IsZero() {
		r.secrets.use(req.NamespacedName, nil)
		return ctrl.Result{}, nil // Owner references let the garbage collector delete the children.
	}
	// Declared before any read, so that a change to one of these Secrets from now on brings a reconcile.
	r.secrets.use(req.NamespacedName, usedSecrets(us, r.AllowedSecrets != nil))
	s := newState(us, r.DefaultImage)
	defer func() { retErr = errors.Join(retErr, r.updateStatus(ctx, s)) }()
	if us.Spec.Paused {
		return ctrl.Result{}, nil
	}
	// Each phase is in the file of its concern: userservice_secrets.go,
	// secretaccess.go, userservice_migration.go, userservice_deployment.go
	// and userservice_extras.go. A phase returns true to stop the reconcile.
	phases := []struct {
		name string
		run  func(context.Context, *state) (bool, error)
	}{
		{"JWT and secret-hash key Secrets", r.reconcileJWTAndHashKeySecrets},
		{"database Secret", r.reconcileDatabaseAndEventsSecrets},
		{"spec.env Secrets", r.checkEnvSecretsAllowed},
		{"migration", r.reconcileMigration},
		{"Deployment", r.reconcileDeployment},
		{"Service", r.reconcileService},
		{"PodDisruptionBudget and HorizontalPodAutoscaler", r.reconcileDisruptionBudgetAndAutoscaler},
		{"NetworkPolicy", r.reconcileNetworkPolicy},
		{"ServiceMonitor", r.reconcileServiceMonitor},
	}
	for _, phase := range phases {
		done, err := phase.run(ctx, s)
		if conflict := (*conflictError)(nil); errors.As(err, &conflict) {
			// Watches see only labelled objects, so check again later for the conflict's end.
			s.obs.Problem = &problem{Reason: ReasonResourceConflict, Message: conflict.Error()}
			return ctrl.Result{RequeueAfter: conflictRecheckInterval}, nil
		}
		if apierrors.IsInvalid(err) {
			// The API server refused an object built from the spec: retrying cannot help, a change of the spec will.
			s.obs.Problem = &problem{Reason: ReasonInvalidSpec, Message: invalidSpecMessage(phase.name, err)}
			return ctrl.Result{}, nil
		}
		if err != nil {
			s.obs.Failure = &failure{Phase: phase.name, Reason: string(apierrors.ReasonForError(err))}
		}
		if err != nil || done {
			return ctrl.Result{}, err
		}
	}
	return ctrl.Result{}, nil
}

// state is what one reconcile carries from phase to phase, in the order of
// Reconcile's table. Each field says which phase sets it and which read it;
// nothing else passes between phases.
type state struct {
	// us is the UserService; only updateStatus changes it (its status).
	us *appsv1alpha1.UserService
	// sums are set by the JWT and secret-hash key phase (hashKey, jwt) and
	// the database phase (database, amqp), which turns them into inputs.
	sums secretSums
	// inputs, built once by the database phase, are read by the Deployment phase.
	inputs resources.Inputs
	// servingImage, set by the migration phase, is the image the Deployment
	// phase applies; "" means no Deployment yet.
	servingImage string
	// obs is what computeStatus reads; each phase records what it observed.
	obs observation
}

// newState returns the initial state of a reconcile of us.
func newState(us *appsv1alpha1.UserService, defaultImage string) *state {
	image := us.Spec.Image
	if image == "" {
		image = defaultImage
	}
	return &state{us: us, obs: observation{
		Generation:      us.Generation,
		Paused:          us.Spec.Paused,
		DesiredImage:    image,
		DesiredReplicas: resources.DesiredReplicas(us),
		ServiceURL:      resources.ServiceURL(us),
		Selector:        labels.SelectorFromSet(resources.SelectorLabels(us)).String(),
	}}
}

// updateStatus computes the status from what the phases observed and patches
// it once, only when it changed, then emits the events of the transitions.
func (r *UserServiceReconciler) updateStatus(ctx context.Context, s *state) error {
	if s.obs.Deployment == nil && !s.obs.Paused {
		d, err := r.currentDeployment(ctx, s.us)
		if err != nil {
			return err
		}
		s.obs.Deployment = d
	}
	old := s.us.Status
	st := computeStatus(old, s.obs)
	if equality.Semantic.DeepEqual(old, st) {
		return nil
	}
	before := s.us.DeepCopy()
	s.us.Status = st
	// The optimistic lock rejects a status computed from a stale cached
	// UserService; the watch event of the newer version brings another reconcile.
	err := r.Client.Status().Patch(ctx, s.us, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{}))
	if apierrors.IsConflict(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("patching the status of UserService %q: %w", s.us.Name, err)
	}
	r.recordTransitions(s.us, old, st, s.obs.Migration)
	return nil
}

// recordTransitions records MigrationSucceeded, MigrationFailed,
// RolloutComplete and ServiceMonitorCRDNotInstalled events when the status
// enters those states, once per transition: the status patch that records it
// succeeds once. A migration's success is counted in the metrics there too.
func (r *UserServiceReconciler) recordTransitions(us *appsv1alpha1.UserService, old, st appsv1alpha1.UserServiceStatus,
	m migration) {
	if m.Phase == MigrationSucceeded && !migrationRecorded(old, m) {
		r.Recorder.Eventf(us, nil, corev1.EventTypeNormal, EventMigrationSucceeded, "Migrate",
			"Migration Job %q for image %q succeeded", m.Job, m.Image)
		observeMigration(ResultSucceeded, m)
	}
	if c := meta.FindStatusCondition(st.Conditions, appsv1alpha1.ConditionServiceMonitorReady); c != nil &&
		c.Reason == ReasonCRDNotInstalled {
		if o := meta.FindStatusCondition(old.Conditions, appsv1alpha1.ConditionServiceMonitorReady); o == nil || o.Reason != c.Reason {
			r.Recorder.Eventf(us, nil, corev1.EventTypeWarning, EventServiceMonitorCRD, "Monitor", "%s", c.Message)
		}
	}
	if c := meta.FindStatusCondition(st.Conditions, appsv1alpha1.ConditionDegraded); c != nil &&
		c.Status == metav1.ConditionTrue && c.Reason == ReasonMigrationFailed {
		if o := meta.FindStatusCondition(old.Conditions, appsv1alpha1.ConditionDegraded); o == nil ||
			o.Reason != c.Reason || o.Message != c.Message || o.Status != c.Status {
			r.Recorder.Eventf(us, nil, corev1.EventTypeWarning, EventMigrationFailed, "Migrate", "%s", c.Message)
		}
	}
	if meta.IsStatusConditionTrue(st.Conditions, appsv1alpha1.ConditionReady) &&
		(!meta.IsStatusConditionTrue(old.Conditions, appsv1alpha1.ConditionReady) || old.Image != st.Image) {
		r.Recorder.Eventf(us, nil, corev1.EventTypeNormal, EventRolloutComplete, "Rollout",
			"Image %q serves on %s replicas", st.Image, st.ReplicasSummary)
	}
}
