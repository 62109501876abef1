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

package v1alpha1

import corev1 "k8s.io/api/core/v1"

// Defaults of the spec's fields. The +kubebuilder:default markers repeat
// them as literals, since a marker cannot name a constant, and
// TestCRDDefaultsEqualConstants checks that the generated CRD's defaults
// equal them. The builders in internal/resources use these constants for a
// field left unset, as in an object that did not go through the API server.
const (
	// DefaultReplicas is spec.replicas.
	DefaultReplicas int32 = 2
	// DefaultDatabaseURLKey is spec.database.urlSecretRef.key.
	DefaultDatabaseURLKey = "url"
	// DefaultJWTSecretKey is spec.auth.jwtSecretRef.key, and the key of the generated JWT Secret.
	DefaultJWTSecretKey = "jwt-secret"
	// DefaultAMQPURLKey is spec.events.amqpURLSecretRef.key.
	DefaultAMQPURLKey = "url"
	// DefaultMigrationsEnabled is spec.migrations.enabled.
	DefaultMigrationsEnabled = true
	// DefaultMigrationBackoffLimit is spec.migrations.backoffLimit.
	DefaultMigrationBackoffLimit int32 = 3
	// DefaultMigrationActiveDeadlineSeconds is spec.migrations.activeDeadlineSeconds.
	DefaultMigrationActiveDeadlineSeconds int64 = 600
	// DefaultCPURequest, DefaultMemoryRequest, DefaultCPULimit and
	// DefaultMemoryLimit make up spec.resources.
	DefaultCPURequest    = "100m"
	DefaultMemoryRequest = "64Mi"
	DefaultCPULimit      = "500m"
	DefaultMemoryLimit   = "256Mi"
	// DefaultLogLevel is spec.logLevel.
	DefaultLogLevel = "info"
	// DefaultServiceType is spec.service.type.
	DefaultServiceType = corev1.ServiceTypeClusterIP
	// DefaultServicePort is spec.service.port.
	DefaultServicePort int32 = 80
	// DefaultGRPCEnabled is spec.grpc.enabled.
	DefaultGRPCEnabled = true
	// DefaultGRPCPort is spec.grpc.port.
	DefaultGRPCPort int32 = 50051
	// DefaultDatabasePort is spec.networkPolicy.egress.databasePort.
	DefaultDatabasePort int32 = 5432
	// DefaultMinReplicas is spec.autoscaling.minReplicas.
	DefaultMinReplicas int32 = 2
	// DefaultTargetCPUUtilizationPercentage is spec.autoscaling.targetCPUUtilizationPercentage.
	DefaultTargetCPUUtilizationPercentage int32 = 80
)

// Probe timings used where spec.probes leaves a field unset (documented on ProbesSpec).
const (
	// DefaultLivenessPeriodSeconds and DefaultLivenessFailureThreshold tune the GET /health liveness probe.
	DefaultLivenessPeriodSeconds    int32 = 10
	DefaultLivenessFailureThreshold int32 = 3
	// DefaultReadinessPeriodSeconds and DefaultReadinessFailureThreshold tune the readiness probe.
	DefaultReadinessPeriodSeconds    int32 = 5
	DefaultReadinessFailureThreshold int32 = 3
	// DefaultStartupPeriodSeconds and DefaultStartupFailureThreshold tune the GET /health startup probe.
	DefaultStartupPeriodSeconds    int32 = 2
	DefaultStartupFailureThreshold int32 = 30
	// DefaultProbeTimeoutSeconds is the timeout of every probe.
	DefaultProbeTimeoutSeconds int32 = 1
)

// HTTPPort is the pods' HTTP port (SERVER_PORT), which the Service's http
// port targets. It is not configurable, and spec.grpc.port must differ from
// it: the GRPCSpec validation rule repeats it, which TestCRDDefaultsEqualConstants checks too.
const HTTPPort int32 = 3000
