//go:build e2e && realnode

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

package e2e

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/jackc/pgx/v5"
	. "github.com/onsi/gomega" //nolint:revive // Gomega's DSL is meant to be dot-imported.
)

// database is a PostgreSQL database and the role that owns it, in the
// cluster of pgDir, for one UserService.
type database struct {
	name, password string
}

// newDatabase creates a role with a SCRAM password and a database it owns,
// named after the namespace ns.
func newDatabase(ns string) *database {
	d := &database{name: strings.ReplaceAll(ns, "-", "_"), password: randomHex(16)}
	pgExec("postgres", fmt.Sprintf("CREATE ROLE %s LOGIN PASSWORD '%s'", d.name, d.password))
	pgExec("postgres", fmt.Sprintf("CREATE DATABASE %s OWNER %s", d.name, d.name))
	return d
}

// url returns the URL the pods use: the role's password, on the gateway.
func (d *database) url() string {
	return fmt.Sprintf("postgres://%s:%s@%s:%s/%s?sslmode=disable", d.name, d.password, gateway, pgPort(), d.name)
}

// setPassword changes the role's password in PostgreSQL.
func (d *database) setPassword(pw string) {
	pgExec("postgres", fmt.Sprintf("ALTER ROLE %s PASSWORD '%s'", d.name, pw))
	d.password = pw
}

// schemaVersion reads the highest applied migration from goose's table.
func (d *database) schemaVersion() int64 {
	conn := pgConnect(d.name)
	defer func() { _ = conn.Close(ctx()) }()
	var v int64
	const q = "SELECT COALESCE(max(version_id), 0) FROM goose_db_version WHERE is_applied"
	Expect(conn.QueryRow(ctx(), q).Scan(&v)).To(Succeed())
	return v
}

// pgPort returns the port of the cluster in pgDir.
func pgPort() string {
	b, err := os.ReadFile(filepath.Join(pgDir, "port"))
	Expect(err).NotTo(HaveOccurred())
	return strings.TrimSpace(string(b))
}

// pgConnect connects to database db as postgres through the cluster's unix
// socket: the host itself sends nothing to the bridge.
func pgConnect(db string) *pgx.Conn {
	conn, err := pgx.Connect(ctx(),
		fmt.Sprintf("host=%s port=%s user=postgres dbname=%s sslmode=disable", pgDir, pgPort(), db))
	Expect(err).NotTo(HaveOccurred())
	return conn
}

// pgExec runs one statement in database db as postgres.
func pgExec(db, sql string) {
	conn := pgConnect(db)
	defer func() { _ = conn.Close(ctx()) }()
	_, err := conn.Exec(ctx(), sql)
	Expect(err).NotTo(HaveOccurred(), "%s", strings.SplitN(sql, " PASSWORD", 2)[0])
}

// randomHex returns n random bytes in hex.
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
