-- A lottery sale's entries window, as the API's "lottery" object (NULL:
-- the sale is no lottery), and the seed that orders its draw, committed to
-- when the entries open (hex, 32 bytes).

-- +goose Up
ALTER TABLE flash_sales ADD COLUMN lottery TEXT;
ALTER TABLE flash_sales ADD COLUMN lottery_seed TEXT;

-- +goose Down
ALTER TABLE flash_sales DROP COLUMN lottery_seed;
ALTER TABLE flash_sales DROP COLUMN lottery;
