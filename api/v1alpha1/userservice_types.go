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

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Condition types set on a UserService. They follow the Kubernetes API
// conventions and kstatus, so `kubectl wait --for=condition=Ready` works.
const (
	// ConditionReady is True when the Deployment is available, every replica
	// runs the desired image and that image's migrations succeeded.
	ConditionReady = "Ready"
	// ConditionAvailable mirrors the Deployment's Available condition.
	ConditionAvailable = "Available"
	// ConditionProgressing is True while a migration runs or a rollout is under way.
	ConditionProgressing = "Progressing"
	// ConditionDegraded is True when the operator cannot reach the desired state
	// without a change from the user (for example a failed migration).
	ConditionDegraded = "Degraded"
	// ConditionReconciling mirrors Progressing under the name kstatus reads
	// (kpt, Flux, cli-utils): True while the spec is not yet realized.
	ConditionReconciling = "Reconciling"
	// ConditionStalled mirrors Degraded under the name kstatus reads: True
	// when reconciliation cannot progress without a change from the user.
	ConditionStalled = "Stalled"
)

// UserServiceSpec is the desired state of a user-service deployment.
// +kubebuilder:validation:XValidation:rule="!has(self.grpc) || !has(self.grpc.port) || !has(self.service) || !has(self.service.port) || self.grpc.port != self.service.port || (has(self.grpc.enabled) && !self.grpc.enabled)",message="spec.grpc.port must differ from spec.service.port: the Service serves both"
type UserServiceSpec struct {
	// image is the user-service container image. When empty, the operator's
	// --user-service-image flag is used (ghcr.io/userservice-dev/user-service:v0.1.0 by default).
	// A new image is rolled out only after its migration Job has succeeded.
	// +optional
	// +kubebuilder:validation:MaxLength=512
	// +kubebuilder:validation:Pattern=`^\S+$`
	Image string `json:"image,omitempty"`

	// imagePullPolicy is the pull policy of the service and migration containers.
	// When empty, Kubernetes picks one (Always for :latest, else IfNotPresent).
	// +optional
	// +kubebuilder:validation:Enum=Always;IfNotPresent;Never
	ImagePullPolicy corev1.PullPolicy `json:"imagePullPolicy,omitempty"`

	// imagePullSecrets names Secrets in the same namespace used to pull the image.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=16
	ImagePullSecrets []corev1.LocalObjectReference `json:"imagePullSecrets,omitempty"`

	// replicas is the number of pods. Ignored when autoscaling is set, because
	// the HorizontalPodAutoscaler then owns the Deployment's replica count.
	// +optional
	// +kubebuilder:default=2
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=1000
	Replicas *int32 `json:"replicas,omitempty"`

	// database says where the service's PostgreSQL connection string comes from.
	// +required
	Database DatabaseSpec `json:"database"`

	// auth configures the JWT signing secret.
	// +optional
	Auth AuthSpec `json:"auth,omitempty"`

	// migrations configures the Job that runs `user-service migrate up`
	// before each new image is rolled out.
	// +optional
	// +kubebuilder:default={}
	Migrations MigrationsSpec `json:"migrations,omitempty"`

	// resources are the compute resources of the service and migration containers.
	// +optional
	// +kubebuilder:default={requests:{cpu:"100m",memory:"64Mi"},limits:{cpu:"500m",memory:"256Mi"}}
	// +kubebuilder:validation:XValidation:rule="!has(self.requests) || !has(self.limits) || ['cpu', 'memory', 'ephemeral-storage'].all(r, !(r in self.requests) || !(r in self.limits) || quantity(string(self.requests[r])).compareTo(quantity(string(self.limits[r]))) <= 0)",message="spec.resources.requests must not exceed spec.resources.limits (cpu, memory, ephemeral-storage)"
	Resources *corev1.ResourceRequirements `json:"resources,omitempty"`

	// probes overrides the periods and thresholds of the liveness (/health),
	// readiness (gRPC health, or /ready without gRPC) and startup probes.
	// +optional
	Probes ProbesSpec `json:"probes,omitempty"`

	// env lists extra environment variables for the service and migration containers.
	// Variables that the operator sets itself cannot be overridden here.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:XValidation:rule="self.all(e, e.name != 'DATABASE_URL' && e.name != 'JWT_SECRET')",message="spec.env must not set DATABASE_URL or JWT_SECRET: use spec.database.urlSecretRef and spec.auth.jwtSecretRef instead"
	// +kubebuilder:validation:XValidation:rule="self.all(e, !(e.name in ['SERVER_PORT', 'LOG_LEVEL', 'SHUTDOWN_DRAIN', 'SHUTDOWN_TIMEOUT']))",message="spec.env must not set SERVER_PORT, LOG_LEVEL, SHUTDOWN_DRAIN or SHUTDOWN_TIMEOUT: the operator sets them (use spec.logLevel for LOG_LEVEL)"
	// +kubebuilder:validation:XValidation:rule="self.all(e, e.name != 'GRPC_PORT' && e.name != 'AMQP_URL')",message="spec.env must not set GRPC_PORT or AMQP_URL: use spec.grpc and spec.events.amqpURLSecretRef instead"
	Env []corev1.EnvVar `json:"env,omitempty"`

	// logLevel is the service's LOG_LEVEL.
	// +optional
	// +kubebuilder:default=info
	// +kubebuilder:validation:Enum=debug;info;warn;error
	LogLevel string `json:"logLevel,omitempty"`

	// service configures the Service in front of the pods.
	// +optional
	// +kubebuilder:default={}
	Service ServiceSpec `json:"service,omitempty"`

	// grpc configures the service's gRPC API (userservice.v1.UserService,
	// the standard health service and reflection).
	// +optional
	// +kubebuilder:default={}
	GRPC GRPCSpec `json:"grpc,omitempty"`

	// events configures the user events (user.created, user.updated,
	// user.deleted) that the service publishes to RabbitMQ through its
	// transactional outbox. Without amqpURLSecretRef no event is written
	// or published.
	// +optional
	Events EventsSpec `json:"events,omitempty"`

	// podTemplate adds scheduling and metadata settings to the pods.
	// +optional
	PodTemplate PodTemplateSpec `json:"podTemplate,omitempty"`

	// podDisruptionBudget configures the PodDisruptionBudget. When unset, a budget
	// with maxUnavailable: 1 is created if more than one replica is desired
	// (replicas, or autoscaling.minReplicas), and none otherwise.
	// +optional
	PodDisruptionBudget *PodDisruptionBudgetSpec `json:"podDisruptionBudget,omitempty"`

	// autoscaling creates a HorizontalPodAutoscaler on CPU utilization. When set,
	// spec.replicas is ignored and the Deployment's replica count is left to the HPA.
	// +optional
	Autoscaling *AutoscalingSpec `json:"autoscaling,omitempty"`

	// paused stops reconciliation: children are neither created, updated nor
	// deleted, and the Progressing condition says so (reason Paused).
	// +optional
	Paused bool `json:"paused,omitempty"`
}

// DatabaseSpec locates the PostgreSQL connection string.
type DatabaseSpec struct {
	// urlSecretRef selects the Secret key holding the PostgreSQL URL
	// (postgres://user:password@host:5432/db). It becomes DATABASE_URL.
	// +required
	URLSecretRef DatabaseURLSecretRef `json:"urlSecretRef"`
}

// DatabaseURLSecretRef selects a key of a Secret in the UserService's namespace.
type DatabaseURLSecretRef struct {
	// name of the Secret.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	Name string `json:"name"`

	// key of the Secret's data holding the URL.
	// +optional
	// +kubebuilder:default=url
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[-._a-zA-Z0-9]+$`
	Key string `json:"key,omitempty"`
}

// AuthSpec configures authentication.
type AuthSpec struct {
	// jwtSecretRef selects the Secret key holding the JWT signing secret
	// (at least 32 bytes). When unset, the operator generates the Secret
	// <name>-jwt (key jwt-secret) once, with 32 random bytes, and never regenerates it.
	// +optional
	JWTSecretRef *JWTSecretRef `json:"jwtSecretRef,omitempty"`
}

// JWTSecretRef selects a key of a Secret in the UserService's namespace.
type JWTSecretRef struct {
	// name of the Secret.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	Name string `json:"name"`

	// key of the Secret's data holding the signing secret.
	// +optional
	// +kubebuilder:default=jwt-secret
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[-._a-zA-Z0-9]+$`
	Key string `json:"key,omitempty"`
}

// MigrationsSpec configures the migration Job.
type MigrationsSpec struct {
	// enabled runs `user-service migrate up` in a Job before each new image is
	// rolled out. When false, new images roll out directly.
	// +optional
	// +kubebuilder:default=true
	Enabled *bool `json:"enabled,omitempty"`

	// backoffLimit is the number of retries before the Job is marked failed.
	// +optional
	// +kubebuilder:default=3
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=20
	BackoffLimit *int32 `json:"backoffLimit,omitempty"`

	// activeDeadlineSeconds bounds how long the Job may run before it is marked failed.
	// +optional
	// +kubebuilder:default=600
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=86400
	ActiveDeadlineSeconds *int64 `json:"activeDeadlineSeconds,omitempty"`
}

// ProbesSpec overrides probe timings. Unset fields keep the operator's defaults.
type ProbesSpec struct {
	// liveness overrides the GET /health probe (default period 10s, timeout 1s, failureThreshold 3).
	// +optional
	Liveness *ProbeTuning `json:"liveness,omitempty"`
	// readiness overrides the readiness probe: the grpc probe of the standard health service
	// when spec.grpc is enabled, GET /ready otherwise (default period 5s, timeout 1s, failureThreshold 3).
	// +optional
	Readiness *ProbeTuning `json:"readiness,omitempty"`
	// startup overrides the GET /health startup probe (default period 2s, failureThreshold 30).
	// +optional
	Startup *ProbeTuning `json:"startup,omitempty"`
}

// ProbeTuning holds the timing fields of a probe.
// +kubebuilder:validation:XValidation:rule="!has(self.timeoutSeconds) || !has(self.periodSeconds) || self.timeoutSeconds <= self.periodSeconds",message="timeoutSeconds must not exceed periodSeconds"
type ProbeTuning struct {
	// initialDelaySeconds before the first probe.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=3600
	InitialDelaySeconds *int32 `json:"initialDelaySeconds,omitempty"`
	// periodSeconds between probes.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=3600
	PeriodSeconds *int32 `json:"periodSeconds,omitempty"`
	// timeoutSeconds of one probe.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=3600
	TimeoutSeconds *int32 `json:"timeoutSeconds,omitempty"`
	// failureThreshold is the number of consecutive failures before the probe fails.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000
	FailureThreshold *int32 `json:"failureThreshold,omitempty"`
}

// ServiceSpec configures the Service.
type ServiceSpec struct {
	// type of the Service.
	// +optional
	// +kubebuilder:default=ClusterIP
	// +kubebuilder:validation:Enum=ClusterIP;NodePort;LoadBalancer
	Type corev1.ServiceType `json:"type,omitempty"`

	// port the Service listens on; it targets the pods' http port (3000).
	// +optional
	// +kubebuilder:default=80
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	Port int32 `json:"port,omitempty"`
}

// GRPCSpec configures the gRPC API.
// +kubebuilder:validation:XValidation:rule="!has(self.port) || self.port != 3000",message="spec.grpc.port must not be 3000: that is the pods' HTTP port"
type GRPCSpec struct {
	// enabled serves the gRPC API: the pods listen on port (GRPC_PORT), the
	// Service gets a port named grpc (appProtocol grpc), and the readiness
	// probe becomes Kubernetes' grpc probe of the standard health service,
	// which follows the same checks as /ready. When false, GRPC_PORT is 0
	// and the readiness probe is GET /ready.
	// +optional
	// +kubebuilder:default=true
	Enabled *bool `json:"enabled,omitempty"`

	// port is the pods' gRPC port and the Service's grpc port.
	// +optional
	// +kubebuilder:default=50051
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	Port int32 `json:"port,omitempty"`
}

// EventsSpec configures the user events.
type EventsSpec struct {
	// amqpURLSecretRef selects the Secret key holding the RabbitMQ URL
	// (amqp://user:password@host:5672/vhost). It becomes AMQP_URL, and its
	// value is part of the secret hash, so that a change rolls the pods.
	// +optional
	AMQPURLSecretRef *AMQPURLSecretRef `json:"amqpURLSecretRef,omitempty"`
}

// AMQPURLSecretRef selects a key of a Secret in the UserService's namespace.
type AMQPURLSecretRef struct {
	// name of the Secret.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	Name string `json:"name"`

	// key of the Secret's data holding the URL.
	// +optional
	// +kubebuilder:default=url
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[-._a-zA-Z0-9]+$`
	Key string `json:"key,omitempty"`
}

// PodTemplateSpec adds metadata and scheduling settings to the pods.
type PodTemplateSpec struct {
	// labels added to the pods. The app.kubernetes.io/ labels that the operator
	// sets cannot be overridden.
	// +optional
	// +kubebuilder:validation:MaxProperties=64
	// +kubebuilder:validation:XValidation:rule="self.all(k, !(k in ['app.kubernetes.io/name', 'app.kubernetes.io/instance', 'app.kubernetes.io/managed-by', 'app.kubernetes.io/version']))",message="spec.podTemplate.labels must not set app.kubernetes.io/name, instance, managed-by or version: the operator sets them"
	// +kubebuilder:validation:XValidation:rule="self.all(k, size(k) <= 317 && k.indexOf('/') <= 253 && k.matches('^([a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$'))",message="spec.podTemplate.labels keys must be label keys: an optional DNS subdomain prefix of at most 253 characters and '/', then at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit"
	Labels map[string]string `json:"labels,omitempty"`

	// annotations added to the pods.
	// +optional
	// +kubebuilder:validation:MaxProperties=64
	Annotations map[string]string `json:"annotations,omitempty"`

	// nodeSelector of the pods.
	// +optional
	// +kubebuilder:validation:MaxProperties=64
	// +kubebuilder:validation:XValidation:rule="self.all(k, size(k) <= 317 && k.indexOf('/') <= 253 && k.matches('^([a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$'))",message="spec.podTemplate.nodeSelector keys must be label keys: an optional DNS subdomain prefix of at most 253 characters and '/', then at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit"
	NodeSelector map[string]string `json:"nodeSelector,omitempty"`

	// tolerations of the pods.
	// +optional
	// +listType=atomic
	Tolerations []corev1.Toleration `json:"tolerations,omitempty"`

	// affinity of the pods.
	// +optional
	Affinity *corev1.Affinity `json:"affinity,omitempty"`

	// topologySpreadConstraints of the pods.
	// +optional
	// +listType=atomic
	TopologySpreadConstraints []corev1.TopologySpreadConstraint `json:"topologySpreadConstraints,omitempty"`

	// priorityClassName of the pods.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	PriorityClassName string `json:"priorityClassName,omitempty"`
}

// PodDisruptionBudgetSpec sets exactly one of minAvailable or maxUnavailable.
// +kubebuilder:validation:XValidation:rule="has(self.minAvailable) != has(self.maxUnavailable)",message="spec.podDisruptionBudget must set exactly one of minAvailable or maxUnavailable"
type PodDisruptionBudgetSpec struct {
	// minAvailable pods (a number or a percentage such as "50%").
	// +optional
	// +kubebuilder:validation:XIntOrString
	MinAvailable *intstr.IntOrString `json:"minAvailable,omitempty"`
	// maxUnavailable pods (a number or a percentage such as "25%").
	// +optional
	// +kubebuilder:validation:XIntOrString
	MaxUnavailable *intstr.IntOrString `json:"maxUnavailable,omitempty"`
}

// AutoscalingSpec configures a HorizontalPodAutoscaler on CPU utilization.
// +kubebuilder:validation:XValidation:rule="!has(self.minReplicas) || self.minReplicas <= self.maxReplicas",message="spec.autoscaling.minReplicas must be less than or equal to maxReplicas"
type AutoscalingSpec struct {
	// minReplicas is the lower bound of the HPA.
	// +optional
	// +kubebuilder:default=2
	// +kubebuilder:validation:Minimum=1
	MinReplicas *int32 `json:"minReplicas,omitempty"`
	// maxReplicas is the upper bound of the HPA.
	// +required
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000
	MaxReplicas int32 `json:"maxReplicas"`
	// targetCPUUtilizationPercentage is the average CPU utilization, relative to
	// the CPU request, that the HPA aims for.
	// +optional
	// +kubebuilder:default=80
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	TargetCPUUtilizationPercentage *int32 `json:"targetCPUUtilizationPercentage,omitempty"`
}

// UserServiceStatus is the observed state of a UserService.
type UserServiceStatus struct {
	// observedGeneration is the metadata.generation this status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions are Ready, Available, Progressing and Degraded, plus
	// Reconciling and Stalled, which mirror Progressing and Degraded for kstatus.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// replicas is the number of pods of the Deployment.
	// +optional
	Replicas int32 `json:"replicas,omitempty"`
	// readyReplicas is the number of ready pods.
	// +optional
	ReadyReplicas int32 `json:"readyReplicas,omitempty"`
	// updatedReplicas is the number of pods running the current template.
	// +optional
	UpdatedReplicas int32 `json:"updatedReplicas,omitempty"`
	// replicasSummary is "ready/desired", shown in the Replicas column.
	// +optional
	ReplicasSummary string `json:"replicasSummary,omitempty"`

	// image is the image in the Deployment's pod template: what serves now.
	// +optional
	Image string `json:"image,omitempty"`
	// migratedImage is the last image whose migrations succeeded.
	// +optional
	MigratedImage string `json:"migratedImage,omitempty"`
	// migrationJob is the name of the migration Job for the desired image.
	// +optional
	MigrationJob string `json:"migrationJob,omitempty"`
	// serviceURL is the in-cluster URL of the Service.
	// +optional
	ServiceURL string `json:"serviceURL,omitempty"`
	// selector is the pods' label selector, for the scale subresource.
	// +optional
	Selector string `json:"selector,omitempty"`
}

// UserService runs the user-service REST and gRPC APIs on PostgreSQL and gates each
// rollout on the success of its database migrations.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:subresource:scale:specpath=.spec.replicas,statuspath=.status.replicas,selectorpath=.status.selector
// +kubebuilder:resource:shortName=usvc,categories=all
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Replicas",type=string,JSONPath=`.status.replicasSummary`
// +kubebuilder:printcolumn:name="Image",type=string,JSONPath=`.status.image`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:validation:XValidation:rule="self.metadata.name.matches('^[a-z]([-a-z0-9]*[a-z0-9])?$')",message="metadata.name must start with a lowercase letter and contain only lowercase letters, digits and '-', because it names the Service"
// +kubebuilder:validation:XValidation:rule="size(self.metadata.name) <= 44",message="metadata.name must be at most 44 characters, so that migration Job names (<name>-migrate-<hash>) fit in 63"
type UserService struct {
	metav1.TypeMeta `json:",inline"`

	// metadata is the standard object metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the desired state.
	// +required
	Spec UserServiceSpec `json:"spec"`

	// status is the observed state, written by the operator.
	// +optional
	Status UserServiceStatus `json:"status,omitempty"`
}

// UserServiceList is a list of UserService objects.
// +kubebuilder:object:root=true
type UserServiceList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []UserService `json:"items"`
}

// init registers the UserService types with the scheme builder.
func init() {
	SchemeBuilder.Register(&UserService{}, &UserServiceList{})
}
