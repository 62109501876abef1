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

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	appsv1 "k8s.io/api/apps/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	appsv1alpha1 "github.com/userservice-dev/userservice-operator/api/v1alpha1"
	"github.com/userservice-dev/userservice-operator/internal/resources"
)

// Results of a finished migration Job, the result label of the migration metrics.
const (
	ResultSucceeded = "succeeded"
	ResultFailed    = "failed"
)

// collectTimeout bounds the cache reads of one scrape.
const collectTimeout = 5 * time.Second

var (
	// migrationDuration is observed once per finished migration Job.
	migrationDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "userservice_migration_duration_seconds",
		Help: "How long finished migration Jobs ran, from their start to their success or failure, by result.",
		// From a quick no-op migration to the default activeDeadlineSeconds (600) and beyond.
		Buckets: []float64{1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800},
	}, []string{"result"})
	// migrationsTotal counts finished migration Jobs.
	migrationsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "userservice_migrations_total",
		Help: "Migration Jobs that finished, by result (succeeded or failed).",
	}, []string{"result"})
)

// init registers the migration metrics with controller-runtime's registry,
// served on the operator's metrics endpoint, with both results at zero so
// that rates and alerts see the series before the first migration ends.
func init() {
	ctrlmetrics.Registry.MustRegister(migrationDuration, migrationsTotal)
	for _, result := range []string{ResultSucceeded, ResultFailed} {
		migrationDuration.WithLabelValues(result)
		migrationsTotal.WithLabelValues(result)
	}
}

// observeMigration records one finished migration Job; one that was not
// timed (such as a Job deleted before the operator saw it end) is counted only.
func observeMigration(result string, m migration) {
	migrationsTotal.WithLabelValues(result).Inc()
	if m.Timed {
		migrationDuration.WithLabelValues(result).Observe(m.Duration.Seconds())
	}
}

// statusCollector exports, at each scrape, the state of every UserService as
// the manager's cache holds it, as kube-state-metrics does for built-in
// kinds: the series of a deleted UserService disappear with it, and their
// number is bounded by the number of UserServices. Only the elected leader
// exports them, so that a standby replica adds no duplicates.
type statusCollector struct {
	reader                    client.Reader
	elected                   <-chan struct{}
	condition, info, replicas *prometheus.Desc
}

// newStatusCollector returns a collector reading UserServices and their
// Deployments from reader once elected is closed.
func newStatusCollector(reader client.Reader, elected <-chan struct{}) *statusCollector {
	return &statusCollector{
		reader:  reader,
		elected: elected,
		condition: prometheus.NewDesc("userservice_status_condition",
			"1 for the current status (true, false or unknown) of each condition of a UserService, else 0.",
			userServiceLabels("type", "status"), nil),
		info: prometheus.NewDesc("userservice_info",
			"1 for each UserService, with the image that serves (status.image) and the last migrated image.",
			userServiceLabels("image", "migrated_image"), nil),
		replicas: prometheus.NewDesc("userservice_replicas",
			"Replicas of a UserService: desired (the Deployment's spec.replicas, else what the spec asks for), "+
				"ready and updated (its status).",
			userServiceLabels("state"), nil),
	}
}

// userServiceLabels returns the label names of a UserService's series: its
// namespace and name, then extra.
func userServiceLabels(extra ...string) []string {
	return append([]string{"namespace", "name"}, extra...)
}

// Describe sends the descriptors.
func (c *statusCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.condition
	ch <- c.info
	ch <- c.replicas
}

// Collect reads the UserServices and Deployments from the cache, without
// copying them, and sends their series. Before the cache has started, or on
// a standby replica, it sends none.
func (c *statusCollector) Collect(ch chan<- prometheus.Metric) {
	select {
	case <-c.elected:
	default:
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), collectTimeout)
	defer cancel()
	var list appsv1alpha1.UserServiceList
	var deployments appsv1.DeploymentList
	err := errors.Join(c.reader.List(ctx, &list, client.UnsafeDisableDeepCopy),
		c.reader.List(ctx, &deployments, client.UnsafeDisableDeepCopy))
	if err != nil {
		ctrl.Log.WithName("metrics").Error(err, "Failed to read UserServices from the cache for a scrape")
		return
	}
	desired := make(map[client.ObjectKey]int32, len(deployments.Items))
	for i := range deployments.Items {
		d := &deployments.Items[i]
		if d.Spec.Replicas != nil {
			desired[client.ObjectKeyFromObject(d)] = *d.Spec.Replicas
		}
	}
	for i := range list.Items {
		c.collect(ch, &list.Items[i], desired)
	}
}

// collect sends the series of one UserService.
func (c *statusCollector) collect(ch chan<- prometheus.Metric, us *appsv1alpha1.UserService, desired map[client.ObjectKey]int32) {
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, append([]string{us.Namespace, us.Name}, labels...)...)
	}
	for _, cond := range us.Status.Conditions {
		for _, status := range []string{"true", "false", "unknown"} {
			v := 0.0
			if strings.EqualFold(string(cond.Status), status) {
				v = 1
			}
			gauge(c.condition, v, cond.Type, status)
		}
	}
	gauge(c.info, 1, us.Status.Image, us.Status.MigratedImage)
	want, ok := desired[client.ObjectKeyFromObject(us)]
	if !ok {
		want = resources.DesiredReplicas(us)
	}
	gauge(c.replicas, float64(want), "desired")
	gauge(c.replicas, float64(us.Status.ReadyReplicas), "ready")
	gauge(c.replicas, float64(us.Status.UpdatedReplicas), "updated")
}

// registerCollector registers c with controller-runtime's registry, replacing
// a collector of the same series that an earlier manager in this process
// registered (tests start several managers; main starts one).
func registerCollector(c prometheus.Collector) error {
	err := ctrlmetrics.Registry.Register(c)
	if are := (prometheus.AlreadyRegisteredError{}); errors.As(err, &are) {
		ctrlmetrics.Registry.Unregister(are.ExistingCollector)
		err = ctrlmetrics.Registry.Register(c)
	}
	return err
}
