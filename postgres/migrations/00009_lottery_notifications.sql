-- The lottery's notifications, as in the embedded store
-- (sqlite/migrations/00009_lottery_notifications.sql): entry_id names the
-- entry of lottery.won, lottery.waitlisted and lottery.lost, NULL for
-- every other event; waitlist_place is a waitlisted entry's place on the
-- waitlist, snapshotted by the draw, 0 for every other event. Adding a
-- nullable column, or one with a constant default, rewrites no rows.

-- +goose Up
ALTER TABLE notifications ADD COLUMN entry_id text;
ALTER TABLE notifications ADD COLUMN waitlist_place bigint NOT NULL DEFAULT 0;
-- An entry hears of each event once: a retried draw, award or loss adds
-- nothing, on whichever instance it runs.
CREATE UNIQUE INDEX notifications_entry_event ON notifications (entry_id, event) WHERE entry_id IS NOT NULL;

-- +goose Down
DELETE FROM notification_deliveries
    WHERE notification_seq IN (SELECT notification_seq FROM notifications WHERE entry_id IS NOT NULL);
DELETE FROM notifications WHERE entry_id IS NOT NULL;
DROP INDEX notifications_entry_event;
ALTER TABLE notifications DROP COLUMN waitlist_place;
ALTER TABLE notifications DROP COLUMN entry_id;
