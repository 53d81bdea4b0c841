-- Notifications that no order change carries: a request of a sale in
-- queued admission that was refused (sold out, ...) has no order, and its
-- user still hears of it. order_id becomes optional and request_id names
-- the queued request. SQLite cannot drop a NOT NULL in place, so both
-- outbox tables are rebuilt (the deliveries reference the notifications),
-- with the same seqs: cursors and deliveries carry on.

-- +goose Up
CREATE TABLE notifications_v3 (
    notification_seq INTEGER PRIMARY KEY,
    notification_id  TEXT    NOT NULL UNIQUE,
    user_id          TEXT    NOT NULL,
    -- NULL for a notification of a queued request that made no order.
    order_id         TEXT    REFERENCES orders (order_id),
    request_id       TEXT,
    event            TEXT    NOT NULL,
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
INSERT INTO notifications_v3 (notification_seq, notification_id, user_id, order_id, event, sale_id, item_id,
        item_name, quantity, amount, currency, status, expires_at, reason, occurred_at)
    SELECT notification_seq, notification_id, user_id, order_id, event, sale_id, item_id,
        item_name, quantity, amount, currency, status, expires_at, reason, occurred_at
    FROM notifications;

CREATE TABLE notification_deliveries_v3 (
    notification_seq INTEGER NOT NULL REFERENCES notifications_v3 (notification_seq),
    channel          TEXT    NOT NULL,
    attempts         INTEGER NOT NULL,
    next_attempt_at  INTEGER,
    lease_until      INTEGER,
    delivered_at     INTEGER,
    last_error       TEXT    NOT NULL,
    PRIMARY KEY (notification_seq, channel)
) STRICT, WITHOUT ROWID;
INSERT INTO notification_deliveries_v3 SELECT notification_seq, channel, attempts, next_attempt_at, lease_until,
        delivered_at, last_error
    FROM notification_deliveries;

-- Children first: nothing references the old deliveries, and once they are
-- gone nothing references the old notifications.
DROP TABLE notification_deliveries;
DROP TABLE notifications;
-- Renaming the parent rewrites the new deliveries' reference to it.
ALTER TABLE notifications_v3 RENAME TO notifications;
ALTER TABLE notification_deliveries_v3 RENAME TO notification_deliveries;
CREATE INDEX notifications_user_seq ON notifications (user_id, notification_seq);
CREATE INDEX notification_deliveries_due ON notification_deliveries (channel, next_attempt_at, notification_seq)
    WHERE next_attempt_at IS NOT NULL;
-- A request is refused once: its notification is written once.
CREATE UNIQUE INDEX notifications_request ON notifications (request_id) WHERE request_id IS NOT NULL;

-- +goose Down
DELETE FROM notification_deliveries
    WHERE notification_seq IN (SELECT notification_seq FROM notifications WHERE order_id IS NULL);
DELETE FROM notifications WHERE order_id IS NULL;
DROP INDEX notifications_request;
ALTER TABLE notifications DROP COLUMN request_id;
