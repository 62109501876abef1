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

package chart

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/userservice-dev/userservice-operator/internal/userservice/auth"
	usclient "github.com/userservice-dev/userservice-operator/pkg/client"
)

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	_, port, err := net.SplitHostPort(freeAddr(t))
	if err != nil {
		t.Fatal(err)
	}
	p, _ := strconv.Atoi(port)
	return p
}

// process is a server the test started, stopped by its pid when the test ends.
type process struct {
	cmd  *exec.Cmd
	out  *logBuffer
	done chan error
}

// startProcess starts a server process with env (and nothing of the test's
// environment), killed if the test binary dies, and stopped with SIGTERM
// (SIGKILL after 15s) when the test ends.
func startProcess(t *testing.T, name string, env []string, args ...string) *process {
	t.Helper()
	p := &process{cmd: exec.Command(name, args...), out: &logBuffer{}, done: make(chan error, 1)}
	p.cmd.Env = env
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done: //nolint:errcheck // the test needs the process gone; its exit status after SIGTERM tells nothing
		case <-time.After(15 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.done //nolint:errcheck // killed: the exit status is SIGKILL's
			t.Errorf("%s (pid %d) did not stop within 15s of SIGTERM; killed it", filepath.Base(name), p.cmd.Process.Pid)
		}
	})
	return p
}

// waitHTTP polls target until it answers 200, failing the test with the
// process's output if it exits or does not answer within 30s.
func (p *process) waitHTTP(t *testing.T, target string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(target); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case err := <-p.done:
			t.Fatalf("%s exited (%v) before answering %s:\n%s", p.cmd.Path, err, target, p.out.String())
		case <-time.After(100 * time.Millisecond):
		}
	}
	t.Fatalf("%s did not answer %s within 30s:\n%s", p.cmd.Path, target, p.out.String())
}

// userServiceProcess is the user service the test runs.
type userServiceProcess struct {
	httpAddr, grpcAddr, secret string
}

// startUserService builds cmd/user-service, migrates dbURL and serves on
// free loopback ports with events published to amqpURL.
func startUserService(t *testing.T, dbURL, amqpURL string) *userServiceProcess {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "user-service")
	if out, err := run(repoRoot(t), "go", "build", "-o", bin, "./cmd/user-service"); err != nil {
		t.Fatalf("building the user service: %v\n%s", err, out)
	}
	migrate := exec.Command(bin, "migrate", "up")
	migrate.Env = []string{"DATABASE_URL=" + dbURL}
	if out, err := migrate.CombinedOutput(); err != nil {
		t.Fatalf("migrate up: %v\n%s", err, out)
	}
	s := &userServiceProcess{httpAddr: fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		secret: "prometheus-test-secret-0123456789abcdef"}
	grpcPort := freePort(t)
	s.grpcAddr = fmt.Sprintf("127.0.0.1:%d", grpcPort)
	_, httpPort, _ := net.SplitHostPort(s.httpAddr)
	p := startProcess(t, bin, []string{
		"DATABASE_URL=" + dbURL, "JWT_SECRET=" + s.secret, "AMQP_URL=" + amqpURL, "SERVER_PORT=" + httpPort,
		"GRPC_PORT=" + strconv.Itoa(grpcPort), "SHUTDOWN_DRAIN=0s", "LOG_LEVEL=warn",
	}, "serve")
	p.waitHTTP(t, "http://"+s.httpAddr+"/ready")
	return s
}

// load sends a bounded mix of REST and gRPC requests (creates, reads,
// lists, not-founds and invalid input), stopping after 20s at most, and
// returns how many it sent.
func (s *userServiceProcess) load(t *testing.T) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	token, err := auth.Sign([]byte(s.secret), "prometheus-test", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Timeout: 5 * time.Second}
	n := 0
	do := func(method, path, body string, want int) []byte {
		n++
		req, err := http.NewRequestWithContext(ctx, method, "http://"+s.httpAddr+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+token)
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer func() { _ = resp.Body.Close() }()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != want {
			t.Fatalf("%s %s = %d %s, want %d", method, path, resp.StatusCode, b, want)
		}
		return b
	}
	grpc := usclient.New("http://"+s.grpcAddr, usclient.Options{Token: token, MaxAttempts: 1})
	for i := range 25 {
		var u struct{ ID int64 }
		body := fmt.Sprintf(`{"name":"Prom %d","email":"prom-%d-%d@example.com"}`, i, i, time.Now().UnixNano())
		if err := json.Unmarshal(do(http.MethodPost, "/api/v1/users", body, http.StatusCreated), &u); err != nil {
			t.Fatal(err)
		}
		do(http.MethodGet, "/api/v1/users/"+strconv.FormatInt(u.ID, 10), "", http.StatusOK)
		do(http.MethodGet, "/api/v1/users?limit=5", "", http.StatusOK)
		do(http.MethodGet, "/api/v1/users/999999999", "", http.StatusNotFound)
		do(http.MethodPost, "/api/v1/users", `{"name":"","email":"not-an-email"}`, http.StatusBadRequest)
		created, err := grpc.CreateUser(ctx, fmt.Sprintf("Grpc %d", i),
			fmt.Sprintf("grpc-%d-%d@example.com", i, time.Now().UnixNano()))
		if err != nil {
			t.Fatalf("gRPC CreateUser: %v", err)
		}
		if _, err := grpc.GetUser(ctx, created.GetId()); err != nil {
			t.Fatalf("gRPC GetUser: %v", err)
		}
		if _, err := grpc.GetUser(ctx, 999999999); connect.CodeOf(err) != connect.CodeNotFound {
			t.Fatalf("gRPC GetUser of a missing user: %v, want NotFound", err)
		}
		n += 3
	}
	return n
}
