-- The notification outbox: what each user is told about their orders, and
-- where each message stands on each delivery channel. A notification is
-- inserted in the savepoint of the order change it describes, so it exists
-- exactly when the change does.

-- +goose Up
CREATE TABLE notifications (
    -- notification_seq is the order of commits: one connection writes, one
    -- transaction at a time, so a notification committed later always has
    -- a higher seq, and a reader resuming after one never skips another.
    -- A new row's seq is one more than the highest: whatever prunes old
    -- notifications must keep the newest, or a seq could come back.
    -- (AUTOINCREMENT would guard that at a write per insert.)
    notification_seq INTEGER PRIMARY KEY,
    -- The UUIDv7 that receivers deduplicate by, and SSE's event id.
    notification_id  TEXT    NOT NULL UNIQUE,
    user_id          TEXT    NOT NULL,
    order_id         TEXT    NOT NULL REFERENCES orders (order_id),
    event            TEXT    NOT NULL,
    -- The order as the change left it: a message never describes a state
    -- the order was not in.
    sale_id          TEXT    NOT NULL,
    item_id          TEXT    NOT NULL,
    item_name        TEXT    NOT NULL,
    quantity         INTEGER NOT NULL,
    amount           INTEGER NOT NULL,
    currency         TEXT    NOT NULL,
    status           TEXT    NOT NULL,
    expires_at       INTEGER NOT NULL,
    reason           TEXT    NOT NULL,
    occurred_at      INTEGER NOT NULL
) STRICT;

-- A user's event stream, in commit order.
CREATE INDEX notifications_user_seq ON notifications (user_id, notification_seq);

-- One row per notification and channel the store was configured with when
-- it wrote the notification.
CREATE TABLE notification_deliveries (
    notification_seq INTEGER NOT NULL REFERENCES notifications (notification_seq),
    channel          TEXT    NOT NULL,
    -- Claims so far: a claim whose dispatcher died counts too. It is the
    -- fencing token of a claim's outcome.
    attempts         INTEGER NOT NULL,
    -- When the delivery is due: at first the notification's time, after a
    -- failure the retry time. NULL once delivered or given up.
    next_attempt_at  INTEGER,
    -- While claimed, the end of the claim's lease: a claim never marked
    -- comes due again by itself then. Apart from next_attempt_at so that a
    -- claim, the common write, leaves the due index alone.
    lease_until      INTEGER,
    delivered_at     INTEGER,
    last_error       TEXT    NOT NULL,
    PRIMARY KEY (notification_seq, channel)
) STRICT, WITHOUT ROWID;

-- The claim's index: only pending deliveries, per channel, due first.
CREATE INDEX notification_deliveries_due ON notification_deliveries (channel, next_attempt_at, notification_seq)
    WHERE next_attempt_at IS NOT NULL;

-- +goose Down
DROP TABLE notification_deliveries;
DROP TABLE notifications;
