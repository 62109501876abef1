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

package testenv

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Server is a throwaway server that a hack/ script manages in a directory
// of its own, such as hack/pg-cluster.sh or hack/rabbitmq.sh: `SCRIPT start
// DIR` starts it and prints its URL, `stop DIR` stops it and keeps its
// data, `restart DIR` starts it again on the same ports, and `destroy DIR`
// stops it and removes DIR.
type Server struct {
	t      testing.TB
	name   string
	dir    string
	script string
	// URL is what the script printed on start.
	URL string
}

// StartServer starts a server with script, a path relative to the module
// root, in a new temporary directory, and destroys it when the test ends.
// name says what the server is in failure messages.
func StartServer(t testing.TB, script, name string) *Server {
	t.Helper()
	dir, err := os.MkdirTemp("", "testenv-")
	if err != nil {
		t.Fatalf("creating a directory for the %s: %v", name, err)
	}
	s := &Server{t: t, name: name, dir: dir, script: filepath.Join(RepoRoot(t), script)}
	t.Cleanup(func() { _, _ = s.run("destroy") })
	out, err := s.run("start")
	if err != nil {
		t.Fatalf("starting the %s: %v\n%s", name, err, out)
	}
	s.URL = strings.TrimSpace(out)
	return s
}

// Stop stops the server, keeping its data.
func (s *Server) Stop() {
	s.t.Helper()
	if out, err := s.run("stop"); err != nil {
		s.t.Fatalf("stopping the %s: %v\n%s", s.name, err, out)
	}
}

// Start starts a stopped server again.
func (s *Server) Start() {
	s.t.Helper()
	if out, err := s.run("restart"); err != nil {
		s.t.Fatalf("restarting the %s: %v\n%s", s.name, err, out)
	}
}

// run calls the script with action on the server's directory and returns
// its standard output, or on failure its standard error too.
func (s *Server) run(action string) (string, error) {
	out, err := exec.Command(s.script, action, s.dir).Output()
	if exitErr, ok := errors.AsType[*exec.ExitError](err); ok {
		return string(out) + string(exitErr.Stderr), err
	}
	return string(out), err
}

// RepoRoot finds the module root by walking up from the working directory
// to go.mod.
func RepoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatalf("getting working directory: %v", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatalf("go.mod not found above the test's directory")
		}
		dir = parent
	}
}
