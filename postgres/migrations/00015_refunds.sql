-- An order refunded by an operator after its confirmation: its units stay
-- sold (a refund that restocks adds them to the item's total instead).

-- +goose Up
ALTER TABLE orders DROP CONSTRAINT orders_status_check;
ALTER TABLE orders ADD CONSTRAINT orders_status_check CHECK (status IN
    ('reserved', 'paying', 'confirmed', 'expired', 'cancelled', 'payment_failed', 'refunded'));

-- +goose Down
ALTER TABLE orders DROP CONSTRAINT orders_status_check;
ALTER TABLE orders ADD CONSTRAINT orders_status_check CHECK (status IN
    ('reserved', 'paying', 'confirmed', 'expired', 'cancelled', 'payment_failed'));
