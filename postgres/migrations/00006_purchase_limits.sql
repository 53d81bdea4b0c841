-- Purchase limits across accounts: a sale's "limits" object as the API
-- shows it (NULL: none); the card each order last paid with, counted per
-- sale while the order is paying or confirmed; the phone and the address
-- (hashed keys) an order is counted under while it is reserved, paying or
-- confirmed.

-- +goose Up
ALTER TABLE flash_sales ADD COLUMN limits jsonb;
ALTER TABLE orders ADD COLUMN card_fingerprint TEXT NOT NULL DEFAULT '';
ALTER TABLE orders ADD COLUMN phone_key TEXT NOT NULL DEFAULT '';
ALTER TABLE orders ADD COLUMN address_key TEXT NOT NULL DEFAULT '';
-- The card's units in a sale: what a move to paying counts under the limit.
CREATE INDEX orders_sale_card ON orders (sale_id, card_fingerprint)
    WHERE card_fingerprint <> '' AND status IN ('paying', 'confirmed');
-- A phone's and an address's units in a sale: what an order's creation counts.
CREATE INDEX orders_sale_phone ON orders (sale_id, phone_key)
    WHERE phone_key <> '' AND status IN ('reserved', 'paying', 'confirmed');
CREATE INDEX orders_sale_address ON orders (sale_id, address_key)
    WHERE address_key <> '' AND status IN ('reserved', 'paying', 'confirmed');

-- +goose Down
DROP INDEX orders_sale_address;
DROP INDEX orders_sale_phone;
DROP INDEX orders_sale_card;
ALTER TABLE orders DROP COLUMN address_key;
ALTER TABLE orders DROP COLUMN phone_key;
ALTER TABLE orders DROP COLUMN card_fingerprint;
ALTER TABLE flash_sales DROP COLUMN limits;
