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
	// ConditionServiceMonitorReady is True when the ServiceMonitor that
	// spec.monitoring.serviceMonitor asks for exists, and False while the
	// monitoring.coreos.com CRD is not installed. It is absent when no
	// ServiceMonitor is asked for, and never affects Ready.
	ConditionServiceMonitorReady = "ServiceMonitorReady"
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

	// monitoring configures how Prometheus scrapes the service.
	// +optional
	Monitoring MonitoringSpec `json:"monitoring,omitempty"`

	// networkPolicy creates a NetworkPolicy that admits ingress to the pods
	// only from the peers it lists and, with egress set, lets them reach only
	// DNS and the database.
	// +optional
	NetworkPolicy *NetworkPolicySpec `json:"networkPolicy,omitempty"`

	// paused stops reconciliation: children are neither created, updated nor
	// deleted, and the Progressing condition says so (reason Paused).
	// +optional
	Paused bool `json:"paused,omitempty"`
}

// UserServiceStatus is the observed state of a UserService.
type UserServiceStatus struct {
	// observedGeneration is the metadata.generation this status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions are Ready, Available, Progressing and Degraded, plus
	// Reconciling and Stalled, which mirror Progressing and Degraded for kstatus,
	// and ServiceMonitorReady when spec.monitoring.serviceMonitor is enabled.
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
