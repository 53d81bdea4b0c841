-- The notification outbox, as in the embedded store
-- (sqlite/migrations/00002_notifications.sql): what each user is told about
-- their orders, and where each message stands on each delivery channel. A
-- notification is inserted in the savepoint of the order change it
-- describes, so it exists exactly when the change does.

-- +goose Up
CREATE TABLE notifications (
    -- notification_seq only names the row; it is not the order of commits.
    -- Transactions draw from the sequence in one order and commit in
    -- another: a reader that resumed after seq 10 would skip a seq 9 whose
    -- transaction committed after it read.
    notification_seq bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- The writing transaction's id (the top-level one's, from inside a
    -- write's savepoint too). A user's stream is ordered by (txid,
    -- notification_seq), and a reader takes only rows whose txid is below
    -- its snapshot's xmin: every transaction with a lower id has ended, so
    -- any notification that becomes visible later sorts after every one
    -- returned, and a reader resuming after one never skips another. xid8
    -- (PostgreSQL 13 and later) carries the epoch: ids never wrap around.
    txid             xid8        NOT NULL DEFAULT pg_current_xact_id(),
    -- The UUIDv7 that receivers deduplicate by, and SSE's event id. Text,
    -- as the other ids: a cursor that is no UUID is unknown, not an error.
    notification_id  text        NOT NULL UNIQUE,
    user_id          text        NOT NULL,
    order_id         text        NOT NULL REFERENCES orders (order_id),
    event            text        NOT NULL,
    -- The order as the change left it: a message never describes a state
    -- the order was not in.
    sale_id          text        NOT NULL,
    item_id          text        NOT NULL,
    item_name        text        NOT NULL,
    quantity         bigint      NOT NULL,
    amount           bigint      NOT NULL,
    currency         text        NOT NULL,
    status           text        NOT NULL,
    expires_at       timestamptz NOT NULL,
    reason           text        NOT NULL,
    occurred_at      timestamptz NOT NULL
);

-- A user's event stream, in commit order.
CREATE INDEX notifications_user_txid_seq ON notifications (user_id, txid, notification_seq);

-- One row per notification and channel the store was configured with when
-- it wrote the notification.
CREATE TABLE notification_deliveries (
    notification_seq bigint      NOT NULL REFERENCES notifications (notification_seq),
    channel          text        NOT NULL,
    -- Claims so far: a claim whose dispatcher died counts too. It is the
    -- fencing token of a claim's outcome.
    attempts         integer     NOT NULL,
    -- When the delivery is due: at first the notification's time, after a
    -- failure the retry time. NULL once delivered or given up.
    next_attempt_at  timestamptz,
    -- While claimed, the end of the claim's lease: a claim never marked
    -- comes due again by itself then. Apart from next_attempt_at so that a
    -- claim, the common write, leaves the due index alone (and its updates
    -- can stay heap-only).
    lease_until      timestamptz,
    delivered_at     timestamptz,
    last_error       text        NOT NULL,
    PRIMARY KEY (notification_seq, channel)
);

-- The claim's index: only pending deliveries, per channel, due first.
CREATE INDEX notification_deliveries_due ON notification_deliveries (channel, next_attempt_at, notification_seq)
    WHERE next_attempt_at IS NOT NULL;

-- +goose Down
DROP TABLE notification_deliveries;
DROP TABLE notifications;
