-- The lottery's notifications (lottery.won, lottery.waitlisted,
-- lottery.lost) are about an entry: entry_id names it, NULL for every
-- other event. waitlist_place is a waitlisted entry's place on the
-- waitlist (its draw rank less the winners), 0 for every other event: the
-- number of winners is not kept with the entries, so the place is
-- snapshotted when the draw writes the notification.

-- +goose Up
ALTER TABLE notifications ADD COLUMN entry_id TEXT;
ALTER TABLE notifications ADD COLUMN waitlist_place INTEGER NOT NULL DEFAULT 0;
-- An entry hears of each event once: a retried draw, award or loss adds
-- nothing, whatever the write before it checked.
CREATE UNIQUE INDEX notifications_entry_event ON notifications (entry_id, event) WHERE entry_id IS NOT NULL;

-- +goose Down
DELETE FROM notification_deliveries
    WHERE notification_seq IN (SELECT notification_seq FROM notifications WHERE entry_id IS NOT NULL);
DELETE FROM notifications WHERE entry_id IS NOT NULL;
DROP INDEX notifications_entry_event;
ALTER TABLE notifications DROP COLUMN waitlist_place;
ALTER TABLE notifications DROP COLUMN entry_id;
