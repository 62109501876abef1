package config

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

// env returns a getenv over m.
func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// base is a minimal valid environment.
func base() map[string]string {
	return map[string]string{"DATABASE_URL": "postgres://localhost/db", "JWT_SECRET": strings.Repeat("s", 32)}
}

// TestLoadDefaults checks every default.
func TestLoadDefaults(t *testing.T) {
	c, err := Load(env(base()))
	if err != nil {
		t.Fatal(err)
	}
	if c.Port != 3000 || c.GRPCPort != 50051 || c.LogLevel != "info" || c.ShutdownDrain != 5*time.Second ||
		c.ShutdownTimeout != 20*time.Second || c.MaxConns != 0 || c.MinConns != 0 || c.StatementTimeout != 5*time.Second ||
		c.OTLPEndpoint != "" || c.AuthRequiredForReads {
		t.Fatalf("defaults: %+v", c)
	}
}

// TestLoadValues checks that every variable is read.
func TestLoadValues(t *testing.T) {
	m := base()
	m["SERVER_PORT"] = "8080"
	m["GRPC_PORT"] = "9090"
	m["LOG_LEVEL"] = "DEBUG"
	m["DB_MAX_CONNS"] = "12"
	m["DB_MIN_CONNS"] = "3"
	m["DB_STATEMENT_TIMEOUT"] = "1500ms"
	m["SHUTDOWN_DRAIN"] = "250ms"
	m["SHUTDOWN_TIMEOUT"] = "1m"
	m["OTEL_EXPORTER_OTLP_ENDPOINT"] = " http://collector:4318 "
	m["AUTH_REQUIRED_FOR_READS"] = "true"
	c, err := Load(env(m))
	if err != nil {
		t.Fatal(err)
	}
	want := Config{DatabaseURL: m["DATABASE_URL"], JWTSecret: []byte(m["JWT_SECRET"]), Port: 8080, GRPCPort: 9090, LogLevel: "debug",
		MaxConns: 12, MinConns: 3, StatementTimeout: 1500 * time.Millisecond, ShutdownDrain: 250 * time.Millisecond, ShutdownTimeout: time.Minute,
		OTLPEndpoint: "http://collector:4318", AuthRequiredForReads: true}
	if string(c.JWTSecret) != string(want.JWTSecret) {
		t.Fatal("JWT secret not read")
	}
	c.JWTSecret, want.JWTSecret = nil, nil
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("got %+v\nwant %+v", c, want)
	}
}

// TestGRPCPortZeroTurnsGRPCOff checks that GRPC_PORT=0 is accepted.
func TestGRPCPortZeroTurnsGRPCOff(t *testing.T) {
	m := base()
	m["GRPC_PORT"] = "0"
	if c, err := Load(env(m)); err != nil || c.GRPCPort != 0 {
		t.Fatalf("GRPC_PORT=0: %+v %v", c, err)
	}
}

// TestLoadErrors checks that each invalid value is named in the error and
// that secrets never appear in it.
func TestLoadErrors(t *testing.T) {
	cases := []struct{ key, value, want string }{
		{"DATABASE_URL", "", "DATABASE_URL is required"},
		{"DATABASE_URL", "   ", "DATABASE_URL is required"},
		{"JWT_SECRET", "", "JWT_SECRET must be at least 32 bytes (got 0)"},
		{"JWT_SECRET", strings.Repeat("k", 31), "JWT_SECRET must be at least 32 bytes (got 31)"},
		{"SERVER_PORT", "0", "SERVER_PORT must be an integer from 1 to 65535"},
		{"SERVER_PORT", "http", "SERVER_PORT"},
		{"GRPC_PORT", "65536", "GRPC_PORT must be an integer from 0 to 65535"},
		{"GRPC_PORT", "3000", "GRPC_PORT and SERVER_PORT are both 3000"},
		{"LOG_LEVEL", "trace", "LOG_LEVEL must be one of debug, info, warn or error"},
		{"DB_MAX_CONNS", "-1", "DB_MAX_CONNS"},
		{"DB_MIN_CONNS", "x", "DB_MIN_CONNS"},
		{"DB_STATEMENT_TIMEOUT", "5", "DB_STATEMENT_TIMEOUT must be 0 (keep the server's setting) or a duration from 1ms to 24h"},
		{"DB_STATEMENT_TIMEOUT", "-1s", "DB_STATEMENT_TIMEOUT must be"},
		{"DB_STATEMENT_TIMEOUT", "500us", "DB_STATEMENT_TIMEOUT must be"},
		{"DB_STATEMENT_TIMEOUT", "25h", "DB_STATEMENT_TIMEOUT must be"},
		{"SHUTDOWN_DRAIN", "-1s", "SHUTDOWN_DRAIN must be a non-negative duration"},
		{"SHUTDOWN_TIMEOUT", "20", "SHUTDOWN_TIMEOUT must be a non-negative duration"},
		{"AUTH_REQUIRED_FOR_READS", "yes please", "AUTH_REQUIRED_FOR_READS must be true or false"},
	}
	for _, c := range cases {
		m := base()
		m[c.key] = c.value
		_, err := Load(env(m))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s=%q: error %v, want it to contain %q", c.key, c.value, err, c.want)
		}
		if err != nil && c.key == "JWT_SECRET" && c.value != "" && strings.Contains(err.Error(), c.value) {
			t.Errorf("the JWT secret leaked into the error: %v", err)
		}
	}
	for _, off := range []string{"0", "0s"} {
		m := base()
		m["DB_STATEMENT_TIMEOUT"] = off
		if c, err := Load(env(m)); err != nil || c.StatementTimeout != 0 {
			t.Errorf("DB_STATEMENT_TIMEOUT=%s: %v %v, want 0 (the server's setting)", off, c.StatementTimeout, err)
		}
	}
	m := base()
	m["DB_MAX_CONNS"], m["DB_MIN_CONNS"] = "2", "5"
	if _, err := Load(env(m)); err == nil || !strings.Contains(err.Error(), "DB_MIN_CONNS (5) must not exceed DB_MAX_CONNS (2)") {
		t.Errorf("min > max: %v", err)
	}
}

// TestUsageListsEveryVariable checks the help text.
func TestUsageListsEveryVariable(t *testing.T) {
	u := Usage()
	for _, v := range Vars {
		if !strings.Contains(u, v.Name) || !strings.Contains(u, "(default: "+v.Default+")") {
			t.Errorf("usage lacks %s with its default %s", v.Name, v.Default)
		}
	}
}

// TestLoadMigrate checks the defaults and validation of what `migrate`
// reads.
func TestLoadMigrate(t *testing.T) {
	m, err := LoadMigrate(env(map[string]string{"DATABASE_URL": "postgres://localhost/db"}))
	if err != nil || m.LockTimeout != 5*time.Second || m.StatementTimeout != 10*time.Minute || m.LogLevel != "info" {
		t.Fatalf("defaults: %+v %v", m, err)
	}
	m, err = LoadMigrate(env(map[string]string{"DATABASE_URL": "postgres://localhost/db",
		"MIGRATE_LOCK_TIMEOUT": "250ms", "MIGRATE_STATEMENT_TIMEOUT": "0"}))
	if err != nil || m.LockTimeout != 250*time.Millisecond || m.StatementTimeout != 0 {
		t.Fatalf("values: %+v %v", m, err)
	}
	for _, c := range []struct{ key, value, want string }{
		{"DATABASE_URL", "", "DATABASE_URL is required"},
		{"LOG_LEVEL", "loud", "LOG_LEVEL"},
		{"MIGRATE_LOCK_TIMEOUT", "5", "MIGRATE_LOCK_TIMEOUT must be"},
		{"MIGRATE_STATEMENT_TIMEOUT", "-1m", "MIGRATE_STATEMENT_TIMEOUT must be"},
	} {
		e := map[string]string{"DATABASE_URL": "postgres://localhost/db", c.key: c.value}
		if _, err := LoadMigrate(env(e)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s=%q: %v, want an error containing %q", c.key, c.value, err, c.want)
		}
	}
}

// TestAMQPURL checks that AMQP_URL is optional, read when set, and that
// an invalid one is refused without repeating its password.
func TestAMQPURL(t *testing.T) {
	c, err := Load(env(base()))
	if err != nil || c.AMQPURL != "" {
		t.Fatalf("unset AMQP_URL: %q, %v; want events off", c.AMQPURL, err)
	}
	for _, good := range []string{"amqp://u:p@rabbitmq:5672/", " amqps://u:p@mq.example.com/prod ", "amqp://localhost"} {
		m := base()
		m["AMQP_URL"] = good
		c, err := Load(env(m))
		if err != nil || c.AMQPURL != strings.TrimSpace(good) {
			t.Fatalf("AMQP_URL %q: %q, %v", good, c.AMQPURL, err)
		}
	}
	for _, bad := range []string{"http://u:hunter2@rabbitmq/", "amqp://u:hunter2@rabbitmq:notaport/", "amqp://u:hun ter2@rabbitmq/"} {
		m := base()
		m["AMQP_URL"] = bad
		_, err := Load(env(m))
		if err == nil || !strings.Contains(err.Error(), "AMQP_URL is not a valid RabbitMQ URL") {
			t.Fatalf("AMQP_URL %q: %v, want an error naming AMQP_URL", bad, err)
		}
		if strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "hun ter2") {
			t.Fatalf("the error repeats the password: %v", err)
		}
	}
}
