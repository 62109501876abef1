//go:build !e2e_migration_v2 && !e2e_migration_fail

package migrations

import "testing"

// TestReleaseBuildHasNoTestMigrations checks that a build without the
// test-only e2e_migration_* tags registers no Go migration: release images
// run exactly the embedded SQL files.
func TestReleaseBuildHasNoTestMigrations(t *testing.T) {
	if len(testMigrations) != 0 {
		t.Fatalf("%d test-only migrations are registered in a build without e2e_migration_* tags", len(testMigrations))
	}
}
