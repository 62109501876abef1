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

// Package argocd tests the Argo CD health check shipped in docs/argocd.
package argocd

import (
	"fmt"
	"os"
	"strings"
	"testing"

	lua "github.com/yuin/gopher-lua"
	"sigs.k8s.io/yaml"
)

// scriptPath is the health check under test, relative to this package.
const scriptPath = "../../docs/argocd/health.lua"

// toLua converts a value decoded from JSON into a Lua value, the way Argo CD
// hands objects to health scripts: objects and arrays become tables (arrays
// 1-based), numbers become numbers.
func toLua(L *lua.LState, v any) lua.LValue {
	switch v := v.(type) {
	case nil:
		return lua.LNil
	case bool:
		return lua.LBool(v)
	case float64:
		return lua.LNumber(v)
	case string:
		return lua.LString(v)
	case []any:
		t := L.NewTable()
		for _, e := range v {
			t.Append(toLua(L, e))
		}
		return t
	case map[string]any:
		t := L.NewTable()
		for k, e := range v {
			t.RawSetString(k, toLua(L, e))
		}
		return t
	default:
		panic(fmt.Sprintf("unexpected JSON value %T", v))
	}
}

// health runs the script with obj set to the object in objYAML and returns
// the status and message it reports.
func health(t *testing.T, script, objYAML string) (string, string) {
	t.Helper()
	var obj map[string]any
	if err := yaml.Unmarshal([]byte(objYAML), &obj); err != nil {
		t.Fatalf("sample object: %v", err)
	}
	L := lua.NewState(lua.Options{SkipOpenLibs: false})
	defer L.Close()
	L.SetGlobal("obj", toLua(L, obj))
	if err := L.DoString(script); err != nil {
		t.Fatalf("running health.lua: %v", err)
	}
	hs, ok := L.Get(-1).(*lua.LTable)
	if !ok {
		t.Fatalf("health.lua returned %v, want a table", L.Get(-1))
	}
	return hs.RawGetString("status").String(), hs.RawGetString("message").String()
}

// object builds a UserService sample with the given generation, spec and status.
func object(generation int, spec, status string) string {
	return fmt.Sprintf("apiVersion: apps.userservice.dev/v1alpha1\nkind: UserService\n"+
		"metadata:\n  name: users\n  generation: %d\nspec:\n%s\n%s", generation, indent(spec), status)
}

// indent indents a YAML snippet by two spaces.
func indent(s string) string {
	if s == "" {
		return "  replicas: 2"
	}
	return "  " + strings.ReplaceAll(s, "\n", "\n  ")
}

// TestHealth runs the script over sample statuses.
func TestHealth(t *testing.T) {
	b, err := os.ReadFile(scriptPath)
	if err != nil {
		t.Fatalf("reading %s: %v", scriptPath, err)
	}
	script := string(b)
	cases := []struct {
		name, obj, status, message string
	}{
		{"no status yet", object(1, "", ""), "Progressing", "Waiting for the operator to report status"},
		{"ready", object(3, "", `status:
  observedGeneration: 3
  conditions:
  - {type: Available, status: "True", reason: MinimumReplicasAvailable, observedGeneration: 3}
  - {type: Ready, status: "True", reason: Ready, message: 2/2 replicas ready, observedGeneration: 3}`), "Healthy",
			"Ready: 2/2 replicas ready"},
		{"ready but stale generation", object(4, "", `status:
  observedGeneration: 3
  conditions:
  - {type: Ready, status: "True", reason: Ready, observedGeneration: 3}`), "Progressing",
			"Waiting for the operator to observe generation 4"},
		{"ready condition stale", object(4, "", `status:
  observedGeneration: 4
  conditions:
  - {type: Ready, status: "True", reason: Ready, observedGeneration: 3}`), "Progressing",
			"Waiting for Ready to reflect generation 4"},
		{"migration running", object(2, "", `status:
  observedGeneration: 2
  conditions:
  - {type: Progressing, status: "True", reason: MigrationRunning, observedGeneration: 2}
  - {type: Ready, status: "False", reason: MigrationRunning, message: migration job users-migrate-abc running,
    observedGeneration: 2}`), "Progressing", "MigrationRunning: migration job users-migrate-abc running"},
		{"migration failed", object(2, "", `status:
  observedGeneration: 2
  conditions:
  - {type: Degraded, status: "True", reason: MigrationFailed, message: migration job users-migrate-abc failed,
    observedGeneration: 2}
  - {type: Ready, status: "False", reason: MigrationFailed, observedGeneration: 2}`), "Degraded",
			"MigrationFailed: migration job users-migrate-abc failed"},
		{"events Secret missing",
			object(2, "grpc: {enabled: true, port: 50051}\nevents: {amqpURLSecretRef: {name: rabbitmq, key: url}}", `status:
  observedGeneration: 2
  conditions:
  - {type: Degraded, status: "True", reason: EventsSecretNotFound,
    message: 'Secret "rabbitmq" with key "url" not found in namespace "prod": create it', observedGeneration: 2}
  - {type: Ready, status: "False", reason: EventsSecretNotFound, observedGeneration: 2}`), "Degraded",
			`EventsSecretNotFound: Secret "rabbitmq" with key "url" not found in namespace "prod": create it`},
		{"ready with gRPC and events",
			object(3, "grpc: {enabled: true, port: 50051}\nevents: {amqpURLSecretRef: {name: rabbitmq, key: url}}", `status:
  observedGeneration: 3
  conditions:
  - {type: Ready, status: "True", reason: RolloutComplete, message: 2/2 replicas ready, observedGeneration: 3}`),
			"Healthy", "RolloutComplete: 2/2 replicas ready"},
		{"degraded false is ignored", object(2, "", `status:
  observedGeneration: 2
  conditions:
  - {type: Degraded, status: "False", reason: AsExpected, observedGeneration: 2}
  - {type: Ready, status: "True", reason: Ready, observedGeneration: 2}`), "Healthy", "Ready"},
		{"paused condition", object(5, "", `status:
  observedGeneration: 5
  conditions:
  - {type: Paused, status: "True", reason: Paused, message: reconciliation paused by spec.paused,
    observedGeneration: 5}`), "Suspended", "Paused: reconciliation paused by spec.paused"},
		{"paused spec before observed", object(6, "paused: true", `status:
  observedGeneration: 5`), "Suspended", "Reconciliation is paused (spec.paused is true)"},
		{"status without conditions", object(1, "", "status:\n  observedGeneration: 1"), "Progressing",
			"Waiting for the operator to report status"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, message := health(t, script, tc.obj)
			if status != tc.status || message != tc.message {
				t.Errorf("health = %q %q, want %q %q", status, message, tc.status, tc.message)
			}
		})
	}
}
