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

// JWTSecret returns the generated <name>-jwt Secret holding random, base64url
// encoded (no NUL bytes can reach the environment) under the key jwt-secret.
// The caller supplies the random bytes and creates the Secret only once.
func JWTSecret(us *appsv1alpha1.UserService, random []byte) *corev1.Secret {
	return &corev1.Secret{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: objectMeta(us, JWTSecretName(us), ""),
		Type:       corev1.SecretTypeOpaque,
		Data:       map[string][]byte{JWTSecretKey: []byte(base64.RawURLEncoding.EncodeToString(random))},
	}
}
