-- Purchase limits across accounts: a sale's "limits" object as the API
-- shows it (NULL: none), and the card each order last paid with, counted
-- per sale while the order is paying or confirmed.

-- +goose Up
ALTER TABLE flash_sales ADD COLUMN limits TEXT;
ALTER TABLE orders ADD COLUMN card_fingerprint TEXT NOT NULL DEFAULT '';
-- The card's units in a sale: what a move to paying counts under the limit.
CREATE INDEX orders_sale_card ON orders (sale_id, card_fingerprint)
    WHERE card_fingerprint <> '' AND status IN ('paying', 'confirmed');

-- +goose Down
DROP INDEX orders_sale_card;
ALTER TABLE orders DROP COLUMN card_fingerprint;
ALTER TABLE flash_sales DROP COLUMN limits;
