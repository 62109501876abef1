-- The transactional outbox of user events (issue 11). With AMQP_URL set,
-- every create, update and delete of a user inserts its event here in the
-- same statement as the user row; the relay publishes the rows to RabbitMQ
-- in id order and deletes each one only after the broker confirmed it.
-- The event carries the user as the change left it (for a delete, as it
-- was), so the relay never reads the users table. occurred_at is the
-- clock when the outbox row is inserted, which is after the user row was
-- written and locked: two changes of one user get increasing occurred_at
-- (by the database's clock) in commit order, like their ids.
--
-- Expand only: a new table, which binaries without events never touch.

-- +goose Up
CREATE TABLE outbox (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id    UUID        NOT NULL DEFAULT gen_random_uuid(),
    type        TEXT        NOT NULL CHECK (type IN ('user.created', 'user.updated', 'user.deleted')),
    user_id     BIGINT      NOT NULL,
    name        TEXT        NOT NULL,
    email       TEXT        NOT NULL,
    occurred_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp()
);

-- +goose Down
DROP TABLE outbox;
