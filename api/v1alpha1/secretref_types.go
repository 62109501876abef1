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

// EventsSpec configures the user events.
type EventsSpec struct {
	// amqpURLSecretRef selects the Secret key holding the RabbitMQ URL
	// (amqp://user:password@host:5672/vhost). It becomes AMQP_URL in the
	// Deployment's pods (not the migration Job's), and its value is part of
	// the secret hash, so that a change rolls the pods. While the Secret or
	// its key is missing, the UserService reports EventsSecretNotFound.
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
