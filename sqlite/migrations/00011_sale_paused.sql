-- An operator's pause of a running sale (PATCH /admin/flash-sales/{id}):
-- no new reservation while it is set, payments of held ones as usual.

-- +goose Up
ALTER TABLE flash_sales ADD COLUMN paused INTEGER NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE flash_sales DROP COLUMN paused;
