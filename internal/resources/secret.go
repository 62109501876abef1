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
package resources

import (
	"encoding/base64"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	appsv1alpha1 "github.com/userservice-dev/userservice-operator/api/v1alpha1"
)

// JWTSecretRandomBytes is the number of random bytes in a generated JWT secret.
const JWTSecretRandomBytes = 32

// HashKeyRandomBytes is the number of random bytes in a generated secret-hash key.
const HashKeyRandomBytes = 32

// HashKeySecretKey is the data key of the generated secret-hash key Secret.
const HashKeySecretKey = "key"

// HashKeySecretName returns the name of the Secret holding the key of the
// pod template's secret-hash annotation.
func HashKeySecretName(us *appsv1alpha1.UserService) string {
	return us.Name + "-secret-hash-key"
}

// JWTSecret returns the generated <name>-jwt Secret holding random, base64url
// encoded (no NUL bytes can reach the environment) under the key jwt-secret.
// The caller supplies the random bytes and creates the Secret only once.
func JWTSecret(us *appsv1alpha1.UserService, random []byte) *corev1.Secret {
	return generatedSecret(us, JWTSecretName(us), JWTSecretKey, random)
}

// HashKeySecret returns the generated <name>-secret-hash-key Secret holding
// random, base64url encoded, under the key "key": the HMAC key of the pod
// template's secret-hash annotation, which no pod reads. The caller supplies
// the random bytes and creates the Secret only once.
func HashKeySecret(us *appsv1alpha1.UserService, random []byte) *corev1.Secret {
	return generatedSecret(us, HashKeySecretName(us), HashKeySecretKey, random)
}

// generatedSecret returns a Secret owned by us holding random, base64url encoded, under key.
func generatedSecret(us *appsv1alpha1.UserService, name, key string, random []byte) *corev1.Secret {
	return &corev1.Secret{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: objectMeta(us, name, ""),
		Type:       corev1.SecretTypeOpaque,
		Data:       map[string][]byte{key: []byte(base64.RawURLEncoding.EncodeToString(random))},
	}
}
