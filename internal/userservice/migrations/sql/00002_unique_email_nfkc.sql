-- Emails that differ only by case or by Unicode compatibility forms
-- (fullwidth letters, ligatures) are the same email. The service stores
-- emails in NFKC already; this index holds every writer (an older binary
-- during a rollout, psql) to the same rule. It needs a UTF8 database.
--
-- Expand only: users_email_lower_key stays. The index is built
-- CONCURRENTLY, so writes go on meanwhile; a build that failed (a lock
-- timeout, or two existing rows that are look-alikes) leaves an invalid
-- index behind, which the DROP removes when `migrate up` runs again.

-- +goose NO TRANSACTION
-- +goose Up
DROP INDEX CONCURRENTLY IF EXISTS users_email_nfkc_key;
CREATE UNIQUE INDEX CONCURRENTLY users_email_nfkc_key ON users (lower(normalize(email, NFKC)));

-- +goose Down
DROP INDEX CONCURRENTLY IF EXISTS users_email_nfkc_key;
