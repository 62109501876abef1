//go:build e2e_migration_fail

package migrations

// The failing image of make test-e2e-real
// (ghcr.io/userservice-dev/user-service:v0.2.0-fail-migration) is this source
// built with -tags e2e_migration_fail: its migration, two versions after the
// embedded ones (so it is pending after v2's too), alters a table that does
// not exist, so `migrate up` fails with PostgreSQL's own error
// (relation "user_profiles" does not exist, SQLSTATE 42P01).
func init() {
	registerTestMigration(2, `ALTER TABLE user_profiles ADD COLUMN bio TEXT`)
}
