// Package config reads the user service's configuration from environment
// variables and validates it.
package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// MinJWTSecretBytes is the shortest JWT_SECRET the service accepts.
const MinJWTSecretBytes = 32

// Config is the validated configuration of the user service.
type Config struct {
	// DatabaseURL is the PostgreSQL connection string (secret: never log it).
	DatabaseURL string
	// JWTSecret is the HS256 signing key (secret: never log it).
	JWTSecret []byte
	// Port is the TCP port the HTTP server listens on.
	Port int
	// GRPCPort is the TCP port the gRPC server listens on; 0 turns it off.
	GRPCPort int
	// LogLevel is one of debug, info, warn or error.
	LogLevel string
	// MaxConns and MinConns size the connection pool; 0 means the pgx default.
	MaxConns int32
	MinConns int32
	// StatementTimeout is PostgreSQL's statement_timeout on the pool's
	// connections; 0 leaves the server's setting.
	StatementTimeout time.Duration
	// ShutdownDrain is how long the server keeps serving after SIGTERM with
	// /ready answering 503.
	ShutdownDrain time.Duration
	// ShutdownTimeout bounds http.Server.Shutdown.
	ShutdownTimeout time.Duration
	// OTLPEndpoint enables tracing when not empty.
	OTLPEndpoint string
	// AuthRequiredForReads makes GET endpoints require a token too.
	AuthRequiredForReads bool
	// AMQPURL turns user events on when not empty (secret: never log it).
	AMQPURL string
}

// Var describes one environment variable for the usage text.
type Var struct {
	Name    string
	Default string
	Help    string
}

// Vars lists every environment variable the service reads, in the order
// `user-service --help` prints them.
var Vars = []Var{
	{"DATABASE_URL", "(required)", "PostgreSQL URL, e.g. postgres://user:pass@host:5432/db?sslmode=disable"},
	{"JWT_SECRET", "(required)", "HS256 key for bearer tokens, at least 32 bytes"},
	{"SERVER_PORT", "3000", "HTTP port (1-65535)"},
	{"GRPC_PORT", "50051", "gRPC port (1-65535, not SERVER_PORT); 0 turns gRPC off"},
	{"LOG_LEVEL", defaultLogLevel, "debug, info, warn or error"},
	{"DB_MAX_CONNS", "max(8, 4*GOMAXPROCS)", "maximum pool connections (1-1000)"},
	{"DB_MIN_CONNS", "0", "connections kept open when idle (0..DB_MAX_CONNS)"},
	{"DB_STATEMENT_TIMEOUT", "5s", "PostgreSQL statement_timeout of every request's statement (0: the server's setting); a statement cut off answers 503"},
	{"SHUTDOWN_DRAIN", "5s", "time /ready answers 503 before the server stops accepting requests"},
	{"SHUTDOWN_TIMEOUT", "20s", "upper bound for finishing in-flight requests after the drain"},
	{"OTEL_EXPORTER_OTLP_ENDPOINT", "(unset: tracing off)", "OTLP/HTTP endpoint, e.g. http://otel-collector:4318"},
	{"AUTH_REQUIRED_FOR_READS", "false", "require a bearer token for GET requests too"},
	{"AMQP_URL", "(unset: events off)", "RabbitMQ URL, e.g. amqp://user:pass@rabbitmq:5672/; publishes user.created/updated/deleted to the exchange user_events through the outbox (needs migration 00003)"},
	{"MIGRATE_LOCK_TIMEOUT", "5s", "migrate: PostgreSQL lock_timeout, so a migration behind a lock fails instead of queueing every request behind itself (0: the server's setting)"},
	{"MIGRATE_STATEMENT_TIMEOUT", "10m", "migrate: PostgreSQL statement_timeout of each migration statement (0: the server's setting)"},
}

// Load reads and validates the configuration through getenv. The error
// names the first variable that is missing or invalid and what is
// expected; it never contains a secret value.
func Load(getenv func(string) string) (Config, error) {
	c := Config{
		DatabaseURL:  getenv("DATABASE_URL"),
		JWTSecret:    []byte(getenv("JWT_SECRET")),
		OTLPEndpoint: strings.TrimSpace(getenv("OTEL_EXPORTER_OTLP_ENDPOINT")),
	}
	if strings.TrimSpace(c.DatabaseURL) == "" {
		return Config{}, fmt.Errorf("DATABASE_URL is required: set it to a PostgreSQL URL such as postgres://user:pass@host:5432/db")
	}
	if len(c.JWTSecret) < MinJWTSecretBytes {
		return Config{}, fmt.Errorf("JWT_SECRET must be at least %d bytes (got %d): set it to a long random value, e.g. `openssl rand -hex 32`", MinJWTSecretBytes, len(c.JWTSecret))
	}
	var err error
	if c.Port, err = intVar(getenv, "SERVER_PORT", 3000, 1, 65535); err != nil {
		return Config{}, err
	}
	if c.GRPCPort, err = grpcPort(getenv, c.Port); err != nil {
		return Config{}, err
	}
	if c.LogLevel, err = logLevel(getenv("LOG_LEVEL")); err != nil {
		return Config{}, err
	}
	if err = c.loadPool(getenv); err != nil {
		return Config{}, err
	}
	if c.StatementTimeout, err = PostgresTimeout(getenv, "DB_STATEMENT_TIMEOUT", 5*time.Second); err != nil {
		return Config{}, err
	}
	if c.ShutdownDrain, err = durationVar(getenv, "SHUTDOWN_DRAIN", 5*time.Second); err != nil {
		return Config{}, err
	}
	if c.ShutdownTimeout, err = durationVar(getenv, "SHUTDOWN_TIMEOUT", 20*time.Second); err != nil {
		return Config{}, err
	}
	if c.AuthRequiredForReads, err = boolVar(getenv, "AUTH_REQUIRED_FOR_READS"); err != nil {
		return Config{}, err
	}
	if c.AMQPURL, err = amqpURL(getenv("AMQP_URL")); err != nil {
		return Config{}, err
	}
	return c, nil
}

// grpcPort reads GRPC_PORT, which must not be the HTTP port.
func grpcPort(getenv func(string) string, httpPort int) (int, error) {
	p, err := intVar(getenv, "GRPC_PORT", 50051, 0, 65535)
	if err == nil && p == httpPort {
		err = fmt.Errorf("GRPC_PORT and SERVER_PORT are both %d: give gRPC a port of its own, or set GRPC_PORT=0 to turn it off", p)
	}
	return p, err
}

// amqpURL validates the optional AMQP_URL; the error never repeats the
// value, which holds a password.
func amqpURL(raw string) (string, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return "", nil
	}
	if _, err := amqp.ParseURI(raw); err != nil {
		return "", fmt.Errorf("AMQP_URL is not a valid RabbitMQ URL: expected amqp://user:pass@host:5672/vhost or amqps://...; percent-encode reserved characters (@ : / ? #) in the user name and password, or unset AMQP_URL to turn events off")
	}
	return raw, nil
}

// loadPool reads DB_MAX_CONNS and DB_MIN_CONNS and checks they fit together.
func (c *Config) loadPool(getenv func(string) string) error {
	maxConns, err := intVar(getenv, "DB_MAX_CONNS", 0, 1, 1000)
	if err != nil {
		return err
	}
	minConns, err := intVar(getenv, "DB_MIN_CONNS", 0, 0, 1000)
	if err != nil {
		return err
	}
	if maxConns > 0 && minConns > maxConns {
		return fmt.Errorf("DB_MIN_CONNS (%d) must not exceed DB_MAX_CONNS (%d): lower DB_MIN_CONNS or raise DB_MAX_CONNS", minConns, maxConns)
	}
	c.MaxConns, c.MinConns = int32(maxConns), int32(minConns)
	return nil
}

// intVar parses an optional integer variable within [lo, hi]; unset gives def.
func intVar(getenv func(string) string, name string, def, lo, hi int) (int, error) {
	raw := strings.TrimSpace(getenv(name))
	if raw == "" {
		return def, nil
	}
	n, err := strconv.Atoi(raw)
	if err != nil || n < lo || n > hi {
		return 0, fmt.Errorf("%s must be an integer from %d to %d, got %q", name, lo, hi, raw)
	}
	return n, nil
}

// durationVar parses an optional non-negative Go duration such as "5s".
func durationVar(getenv func(string) string, name string, def time.Duration) (time.Duration, error) {
	raw := strings.TrimSpace(getenv(name))
	if raw == "" {
		return def, nil
	}
	d, err := time.ParseDuration(raw)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%s must be a non-negative duration such as 5s or 500ms, got %q", name, raw)
	}
	return d, nil
}

// MaxPostgresTimeout is the longest timeout the service passes to
// PostgreSQL settings such as statement_timeout.
const MaxPostgresTimeout = 24 * time.Hour

// PostgresTimeout parses an optional timeout for a PostgreSQL setting
// counted in milliseconds: 0 (leave the server's setting) or a duration
// from 1ms to MaxPostgresTimeout; unset gives def.
func PostgresTimeout(getenv func(string) string, name string, def time.Duration) (time.Duration, error) {
	raw := strings.TrimSpace(getenv(name))
	if raw == "" {
		return def, nil
	}
	d, err := time.ParseDuration(raw)
	if err == nil && d == 0 {
		return 0, nil
	}
	if err != nil || d < time.Millisecond || d > MaxPostgresTimeout {
		return 0, fmt.Errorf("%s must be 0 (keep the server's setting) or a duration from 1ms to 24h such as 5s or 500ms, got %q", name, raw)
	}
	return d, nil
}

// boolVar parses an optional boolean variable; unset means false.
func boolVar(getenv func(string) string, name string) (bool, error) {
	raw := strings.TrimSpace(getenv(name))
	if raw == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(raw)
	if err != nil {
		return false, fmt.Errorf("%s must be true or false, got %q", name, raw)
	}
	return b, nil
}

// defaultLogLevel is the LOG_LEVEL of an unset variable.
const defaultLogLevel = "info"

// logLevel validates LOG_LEVEL and returns it in lower case.
func logLevel(raw string) (string, error) {
	v := strings.ToLower(strings.TrimSpace(raw))
	switch v {
	case "":
		return defaultLogLevel, nil
	case "debug", "info", "warn", "error":
		return v, nil
	}
	return "", fmt.Errorf("LOG_LEVEL must be one of debug, info, warn or error, got %q", raw)
}

// Migrate is the validated configuration of `migrate`.
type Migrate struct {
	// DatabaseURL is the PostgreSQL connection string (secret: never log it).
	DatabaseURL string
	LogLevel    string
	// LockTimeout and StatementTimeout are PostgreSQL's lock_timeout and
	// statement_timeout while migrating; 0 leaves the server's settings.
	LockTimeout, StatementTimeout time.Duration
}

// LoadMigrate reads what `migrate` needs: DATABASE_URL, LOG_LEVEL and the
// MIGRATE_* timeouts.
func LoadMigrate(getenv func(string) string) (Migrate, error) {
	m := Migrate{DatabaseURL: getenv("DATABASE_URL")}
	if strings.TrimSpace(m.DatabaseURL) == "" {
		return Migrate{}, fmt.Errorf("DATABASE_URL is required: set it to a PostgreSQL URL such as postgres://user:pass@host:5432/db")
	}
	var err error
	if m.LogLevel, err = logLevel(getenv("LOG_LEVEL")); err != nil {
		return Migrate{}, err
	}
	if m.LockTimeout, err = PostgresTimeout(getenv, "MIGRATE_LOCK_TIMEOUT", 5*time.Second); err != nil {
		return Migrate{}, err
	}
	if m.StatementTimeout, err = PostgresTimeout(getenv, "MIGRATE_STATEMENT_TIMEOUT", 10*time.Minute); err != nil {
		return Migrate{}, err
	}
	return m, nil
}

// Usage returns the help text listing subcommands and every variable with
// its default.
func Usage() string {
	var b strings.Builder
	b.WriteString(`Usage: user-service [serve | migrate up | migrate status]

A REST and gRPC service for users (id, name, email) on PostgreSQL.

Commands:
  serve           serve the HTTP and gRPC APIs (default); never runs migrations
  migrate up      apply pending schema migrations (safe to run concurrently)
  migrate status  show applied and pending migrations

Environment variables:
`)
	for _, v := range Vars {
		fmt.Fprintf(&b, "  %-28s %s (default: %s)\n", v.Name, v.Help, v.Default)
	}
	return b.String()
}
