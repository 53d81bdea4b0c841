-- A delivery's claim changes only columns no index holds (attempts,
-- lease_until): with room on its page, PostgreSQL writes the new version
-- there and touches no index (a heap-only update). Pages filled to the
-- brim by the inserts left no room, and every claim wrote an entry in
-- both of the table's indexes.

-- +goose Up
ALTER TABLE notification_deliveries SET (fillfactor = 60);

-- +goose Down
ALTER TABLE notification_deliveries RESET (fillfactor);
