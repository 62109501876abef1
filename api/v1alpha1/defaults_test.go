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
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"sigs.k8s.io/yaml"
)

// crdPath is the CRD that make manifests generates from these types.
var crdPath = filepath.Join("..", "..", "config", "crd", "bases", "apps.userservice.dev_userservices.yaml")

// TestCRDDefaultsEqualConstants checks that every default of the generated
// CRD on a field declared in this package equals its named constant, and
// that every constant has its default in the CRD: a marker and its constant
// cannot drift apart, and a new default marker needs a constant.
func TestCRDDefaultsEqualConstants(t *testing.T) {
	want := map[string]any{
		"spec.replicas":                                   DefaultReplicas,
		"spec.database.urlSecretRef.key":                  DefaultDatabaseURLKey,
		"spec.auth.jwtSecretRef.key":                      DefaultJWTSecretKey,
		"spec.events.amqpURLSecretRef.key":                DefaultAMQPURLKey,
		"spec.migrations":                                 map[string]any{},
		"spec.migrations.enabled":                         DefaultMigrationsEnabled,
		"spec.migrations.backoffLimit":                    DefaultMigrationBackoffLimit,
		"spec.migrations.activeDeadlineSeconds":           DefaultMigrationActiveDeadlineSeconds,
		"spec.logLevel":                                   DefaultLogLevel,
		"spec.service":                                    map[string]any{},
		"spec.service.type":                               DefaultServiceType,
		"spec.service.port":                               DefaultServicePort,
		"spec.grpc":                                       map[string]any{},
		"spec.grpc.enabled":                               DefaultGRPCEnabled,
		"spec.grpc.port":                                  DefaultGRPCPort,
		"spec.networkPolicy.egress.databasePort":          DefaultDatabasePort,
		"spec.autoscaling.minReplicas":                    DefaultMinReplicas,
		"spec.autoscaling.targetCPUUtilizationPercentage": DefaultTargetCPUUtilizationPercentage,
		"spec.resources": map[string]any{
			"requests": map[string]any{"cpu": DefaultCPURequest, "memory": DefaultMemoryRequest},
			"limits":   map[string]any{"cpu": DefaultCPULimit, "memory": DefaultMemoryLimit},
		},
	}
	spec := specSchema(t)
	got := map[string]any{}
	crdDefaults(spec, "spec", got)
	own := map[string]bool{}
	ownFields(reflect.TypeFor[UserServiceSpec](), "spec", own)

	for path, w := range want {
		if !own[path] {
			t.Errorf("%s is not a field of UserServiceSpec: fix the test's table", path)
		}
		g, ok := got[path]
		if !ok {
			t.Errorf("%s: the CRD has no default, want %v: add a +kubebuilder:default marker", path, w)
			continue
		}
		if w := jsonValue(t, w); !reflect.DeepEqual(g, w) {
			t.Errorf("%s: the CRD's default is %v, the constant is %v: make the marker and the constant agree", path, g, w)
		}
	}
	for _, path := range slices.Sorted(maps.Keys(got)) {
		if _, ok := want[path]; own[path] && !ok {
			t.Errorf("%s has the default %v in the CRD but no constant in defaults.go", path, got[path])
		}
	}
}

// TestCRDRepeatsHTTPPort checks that the rule keeping spec.grpc.port off the
// pods' HTTP port names HTTPPort's value.
func TestCRDRepeatsHTTPPort(t *testing.T) {
	grpc := specSchema(t).Properties["grpc"]
	port := strconv.Itoa(int(HTTPPort))
	found := false
	for _, v := range grpc.XValidations {
		if strings.Contains(v.Rule, "self.port") {
			found = true
			if !strings.Contains(v.Rule, "!= "+port) || !strings.Contains(v.Message, port) {
				t.Errorf("spec.grpc rule %q (%q) does not name the HTTP port %s", v.Rule, v.Message, port)
			}
		}
	}
	if !found {
		t.Error("spec.grpc has no rule on its port")
	}
}

// specSchema returns the OpenAPI schema of spec in the generated CRD.
func specSchema(t *testing.T) apiextensionsv1.JSONSchemaProps {
	t.Helper()
	b, err := os.ReadFile(crdPath)
	if err != nil {
		t.Fatalf("reading the generated CRD (run make manifests): %v", err)
	}
	var crd apiextensionsv1.CustomResourceDefinition
	if err := yaml.UnmarshalStrict(b, &crd); err != nil {
		t.Fatalf("decoding %s: %v", crdPath, err)
	}
	if len(crd.Spec.Versions) != 1 || crd.Spec.Versions[0].Schema == nil {
		t.Fatalf("%s: want one version with a schema, got %d versions", crdPath, len(crd.Spec.Versions))
	}
	return crd.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"]
}

// crdDefaults records the decoded default of every property under s by its
// path: properties joined with ".", "[]" for the items of a list and "{}"
// for the values of a map.
func crdDefaults(s apiextensionsv1.JSONSchemaProps, path string, into map[string]any) {
	if s.Default != nil {
		var v any
		if err := json.Unmarshal(s.Default.Raw, &v); err == nil {
			into[path] = v
		} else {
			into[path] = string(s.Default.Raw)
		}
	}
	for name, p := range s.Properties {
		crdDefaults(p, path+"."+name, into)
	}
	if s.Items != nil && s.Items.Schema != nil {
		crdDefaults(*s.Items.Schema, path+"[]", into)
	}
	if s.AdditionalProperties != nil && s.AdditionalProperties.Schema != nil {
		crdDefaults(*s.AdditionalProperties.Schema, path+"{}", into)
	}
}

// ownFields records the paths, as crdDefaults writes them, of the fields
// declared in this package under t, leaving out those of the Kubernetes
// types the spec embeds (such as a Toleration's), whose defaults are theirs.
func ownFields(t reflect.Type, path string, into map[string]bool) {
	switch t.Kind() {
	case reflect.Pointer:
		ownFields(t.Elem(), path, into)
		return
	case reflect.Slice:
		ownFields(t.Elem(), path+"[]", into)
		return
	case reflect.Map:
		ownFields(t.Elem(), path+"{}", into)
		return
	case reflect.Struct:
	default:
		return
	}
	if t.PkgPath() != reflect.TypeFor[UserService]().PkgPath() {
		return
	}
	for f := range t.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" {
			continue
		}
		into[path+"."+name] = true
		ownFields(f.Type, path+"."+name, into)
	}
}

// jsonValue returns v as encoding/json decodes its encoding, as the CRD's defaults are.
func jsonValue(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}
