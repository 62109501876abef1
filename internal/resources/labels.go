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
// Package resources builds the objects a UserService owns. Every builder is a
// pure function of the UserService and explicit inputs: it reads no globals,
// no environment and no cluster state, so it is tested without a client.
package resources

import (
	"regexp"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	appsv1alpha1 "github.com/userservice-dev/userservice-operator/api/v1alpha1"
)

// Labels, annotations and names shared by every child object.
const (
	// FieldOwner is the server-side apply field manager of the operator.
	FieldOwner = "userservice-operator"

	// LabelName is the app.kubernetes.io/name label.
	LabelName = "app.kubernetes.io/name"
	// LabelInstance is the app.kubernetes.io/instance label, set to the UserService name.
	LabelInstance = "app.kubernetes.io/instance"
	// LabelManagedBy is the app.kubernetes.io/managed-by label; the manager's cache selects on it.
	LabelManagedBy = "app.kubernetes.io/managed-by"
	// LabelVersion is the app.kubernetes.io/version label, derived from the image tag.
	LabelVersion = "app.kubernetes.io/version"
	// LabelComponent is the app.kubernetes.io/component label.
	LabelComponent = "app.kubernetes.io/component"

	// AppName is the value of LabelName on every child.
	AppName = "user-service"
	// ManagedBy is the value of LabelManagedBy on every child.
	ManagedBy = "userservice-operator"

	// AnnotationSecretHash on the pod template holds a hash of the referenced
	// Secrets' data, so that rotating one rolls the pods.
	AnnotationSecretHash = "userservice.dev/secret-hash"
	// AnnotationImage on a migration Job records the image it migrates to.
	AnnotationImage = "userservice.dev/image"
	// AnnotationSpecHash on each applied child holds a hash of the object the
	// operator last applied, so that an idle reconcile can skip the apply.
	AnnotationSpecHash = "userservice.dev/spec-hash"

	// ContainerName is the name of the service and migration containers.
	ContainerName = "user-service"
	// HTTPPortName is the name of the container port.
	HTTPPortName = "http"
	// HTTPPort is the port the service listens on (SERVER_PORT).
	HTTPPort = appsv1alpha1.HTTPPort
	// JWTSecretKey is the data key of the generated JWT Secret.
	JWTSecretKey = appsv1alpha1.DefaultJWTSecretKey
)

// versionLabelPattern matches values Kubernetes accepts as label values.
var versionLabelPattern = regexp.MustCompile(`^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$`)

// SelectorLabels returns the immutable pod selector of a UserService: the name and the instance, never the version.
func SelectorLabels(us *appsv1alpha1.UserService) map[string]string {
	return map[string]string{LabelName: AppName, LabelInstance: us.Name}
}

// Labels returns the labels every child object carries, with the version derived from image.
func Labels(us *appsv1alpha1.UserService, image string) map[string]string {
	l := map[string]string{
		LabelName:      AppName,
		LabelInstance:  us.Name,
		LabelManagedBy: ManagedBy,
	}
	if v := VersionLabel(image); v != "" {
		l[LabelVersion] = v
	}
	return l
}

// VersionLabel returns the tag of image as a valid label value, or "" when the
// image has no tag (or a digest) usable as one.
func VersionLabel(image string) string {
	if i := strings.Index(image, "@"); i >= 0 {
		image = image[:i]
	}
	slash := strings.LastIndex(image, "/")
	colon := strings.LastIndex(image, ":")
	if colon <= slash {
		return ""
	}
	tag := image[colon+1:]
	if len(tag) > 63 || !versionLabelPattern.MatchString(tag) {
		return ""
	}
	return tag
}

// OwnerReference returns the controller reference that makes a child garbage-collected with its UserService.
func OwnerReference(us *appsv1alpha1.UserService) metav1.OwnerReference {
	return *metav1.NewControllerRef(us, appsv1alpha1.GroupVersion.WithKind("UserService"))
}

// objectMeta returns the metadata shared by child objects: name, namespace, labels and owner.
func objectMeta(us *appsv1alpha1.UserService, name, image string) metav1.ObjectMeta {
	return metav1.ObjectMeta{
		Name:            name,
		Namespace:       us.Namespace,
		Labels:          Labels(us, image),
		OwnerReferences: []metav1.OwnerReference{OwnerReference(us)},
	}
}
