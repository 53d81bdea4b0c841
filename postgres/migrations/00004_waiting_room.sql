-- A sale's waiting room: its settings as the API's "waiting_room" object
-- (NULL: the sale has none), and the seed that orders its pre-queue at
-- the start, committed to when the pre-queue opens (hex, 32 bytes).

-- +goose Up
ALTER TABLE flash_sales ADD COLUMN waiting_room jsonb;
ALTER TABLE flash_sales ADD COLUMN queue_seed text;

-- +goose Down
ALTER TABLE flash_sales DROP COLUMN queue_seed;
ALTER TABLE flash_sales DROP COLUMN waiting_room;
