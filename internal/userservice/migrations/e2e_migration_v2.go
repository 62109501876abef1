//go:build e2e_migration_v2

package migrations

// The "v2" image of make test-e2e-real (ghcr.io/userservice-dev/user-service:v0.1.1)
// is this source built with -tags e2e_migration_v2: one more migration, right
// after the embedded ones, and an additive one (a nullable column), so v1
// pods keep working on the migrated schema during the rolling upgrade.
func init() {
	registerTestMigration(1, `ALTER TABLE users ADD COLUMN nickname TEXT`)
}
