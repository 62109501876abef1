// Command user-service serves a REST API for users on PostgreSQL and
// applies its own schema migrations.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
)

// defaultGCPercent is used when GOGC is unset. The service's live heap is
// only a few MiB, so the runtime's default of 100 collects very often under
// load; 200 halves the collector's CPU share for a few MiB more peak RSS.
const defaultGCPercent = 200

// main runs the service until SIGTERM or SIGINT and exits non-zero on error.
func main() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(defaultGCPercent)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "user-service: %v\n", err)
		os.Exit(1)
	}
}

// run dispatches to a subcommand; serve is the default.
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) == 0 {
		return serve(ctx, getenv, stdout)
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		_, err := io.WriteString(stdout, usage())
		return err
	case "serve":
		if len(args) > 1 {
			return fmt.Errorf("serve takes no arguments, got %q; see user-service --help", args[1:])
		}
		return serve(ctx, getenv, stdout)
	case "migrate":
		return migrate(ctx, args[1:], getenv, stdout)
	}
	return fmt.Errorf("unknown command %q: expected serve, migrate up or migrate status; see user-service --help", args[0])
}
