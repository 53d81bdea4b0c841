-- Notifications that no order change carries: a request of a sale in
-- queued admission that was refused (sold out, ...) has no order, and its
-- user still hears of it. order_id becomes optional and request_id names
-- the queued request.

-- +goose Up
ALTER TABLE notifications ALTER COLUMN order_id DROP NOT NULL;
ALTER TABLE notifications ADD COLUMN request_id text;
-- A request is refused once: its notification is written once.
CREATE UNIQUE INDEX notifications_request ON notifications (request_id) WHERE request_id IS NOT NULL;

-- +goose Down
DELETE FROM notification_deliveries
    WHERE notification_seq IN (SELECT notification_seq FROM notifications WHERE order_id IS NULL);
DELETE FROM notifications WHERE order_id IS NULL;
DROP INDEX notifications_request;
ALTER TABLE notifications DROP COLUMN request_id;
ALTER TABLE notifications ALTER COLUMN order_id SET NOT NULL;
