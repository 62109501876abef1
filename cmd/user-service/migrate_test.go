package main

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestMigrateFailsFastOnALock runs `migrate up` while another session
// holds an exclusive lock on the table of schema versions, which every run
// reads: with MIGRATE_LOCK_TIMEOUT it must fail with an error that says
// what happened and which variable to change, instead of queueing behind
// the lock (and queueing every later request behind itself).
func TestMigrateFailsFastOnALock(t *testing.T) {
	db := newMigratedDB(t)
	lockTable(t, db, "goose_db_version")
	errc := make(chan error, 1)
	var out syncBuffer
	go func() {
		env := map[string]string{"DATABASE_URL": db, "MIGRATE_LOCK_TIMEOUT": "200ms"}
		errc <- run(context.Background(), []string{"migrate", "up"}, envFunc(env), &out)
	}()
	var err error
	select {
	case err = <-errc:
	case <-time.After(time.Minute): // a hang guard, not a speed check
		t.Fatalf("migrate up still waits for the lock after a minute\n%s", out.String())
	}
	if err == nil || !strings.Contains(err.Error(), "lock") || !strings.Contains(err.Error(), "MIGRATE_LOCK_TIMEOUT") {
		t.Fatalf("migrate up behind a lock: %v, want an error naming the lock and MIGRATE_LOCK_TIMEOUT", err)
	}
}

// TestMigrateTimeoutsAreValidated checks that bad MIGRATE_* values stop
// `migrate` with an error naming the variable.
func TestMigrateTimeoutsAreValidated(t *testing.T) {
	for _, name := range []string{"MIGRATE_LOCK_TIMEOUT", "MIGRATE_STATEMENT_TIMEOUT"} {
		env := map[string]string{"DATABASE_URL": "postgres://u@127.0.0.1:1/db", name: "soon"}
		err := run(context.Background(), []string{"migrate", "up"}, envFunc(env), &syncBuffer{})
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Fatalf("%s=soon: %v, want an error naming %s", name, err, name)
		}
	}
}
