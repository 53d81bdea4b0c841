-- The embedded store's schema, after the seed's (section 5.2).
--
-- Money is INTEGER minor units (cents), never floating point. Times are
-- INTEGER unix microseconds UTC, the precision PostgreSQL keeps, so both
-- stores round-trip the same values. Durations are INTEGER microseconds.
-- Tables are STRICT so a value of the wrong type is an error, not a silent
-- conversion.
--
-- Not kept from the seed: flash_sales.status, which Sale.Status derives from
-- the window and the clock, and the items' reserved and sold counters, which
-- the inventory owns during a sale and the orders table answers afterwards.

-- +goose Up
CREATE TABLE flash_sales (
    sale_id         TEXT    PRIMARY KEY,
    name            TEXT    NOT NULL,
    start_time      INTEGER NOT NULL,
    end_time        INTEGER NOT NULL,
    mode            TEXT    NOT NULL,
    admission       TEXT    NOT NULL,
    reservation_ttl INTEGER NOT NULL,
    created_at      INTEGER NOT NULL
) STRICT;

CREATE INDEX flash_sales_start_time ON flash_sales (start_time);

CREATE TABLE flash_sale_items (
    item_id        TEXT    PRIMARY KEY,
    sale_id        TEXT    NOT NULL REFERENCES flash_sales (sale_id),
    -- position keeps the items in the order the admin gave them.
    position       INTEGER NOT NULL,
    product_id     TEXT    NOT NULL,
    name           TEXT    NOT NULL,
    original_price INTEGER NOT NULL,
    sale_price     INTEGER NOT NULL,
    currency       TEXT    NOT NULL,
    total_quantity INTEGER NOT NULL,
    per_user_limit INTEGER NOT NULL,
    UNIQUE (sale_id, position),
    -- The target of orders' foreign key, which proves an order's item
    -- belongs to the order's sale.
    UNIQUE (sale_id, item_id)
) STRICT;

CREATE TABLE orders (
    order_id           TEXT    PRIMARY KEY,
    sale_id            TEXT    NOT NULL,
    item_id            TEXT    NOT NULL,
    user_id            TEXT    NOT NULL,
    quantity           INTEGER NOT NULL,
    status             TEXT    NOT NULL,
    unit_price         INTEGER NOT NULL,
    total_amount       INTEGER GENERATED ALWAYS AS (unit_price * quantity) VIRTUAL,
    currency           TEXT    NOT NULL,
    reserved_at        INTEGER NOT NULL,
    expires_at         INTEGER NOT NULL,
    confirmed_at       INTEGER,
    updated_at         INTEGER NOT NULL,
    payment_attempts   INTEGER NOT NULL,
    last_payment_error TEXT    NOT NULL,
    payment_id         TEXT    NOT NULL,
    -- '' when the client sent no Idempotency-Key.
    idempotency_key    TEXT    NOT NULL,
    FOREIGN KEY (sale_id, item_id) REFERENCES flash_sale_items (sale_id, item_id)
) STRICT;

-- A client's Idempotency-Key names one order of that user; requests
-- without a key never collide.
CREATE UNIQUE INDEX orders_user_idempotency_key ON orders (user_id, idempotency_key)
    WHERE idempotency_key <> '';
-- The sweeper's index: only live reservations, earliest deadline first.
CREATE INDEX orders_reserved_expires_at ON orders (expires_at, order_id)
    WHERE status = 'reserved';
-- The payment settler's index: orders left in paying, oldest change first.
CREATE INDEX orders_paying_updated_at ON orders (updated_at, order_id)
    WHERE status = 'paying';
-- Claims: an item's orders by status, to rebuild the inventory.
CREATE INDEX orders_item_status ON orders (item_id, status);

CREATE TABLE payments (
    -- payment_seq orders an order's attempts as they were recorded; the
    -- provider's id cannot be the key, it is empty when no charge was made.
    payment_seq     INTEGER PRIMARY KEY,
    order_id        TEXT    NOT NULL REFERENCES orders (order_id),
    payment_id      TEXT    NOT NULL,
    attempt         INTEGER NOT NULL,
    idempotency_key TEXT    NOT NULL,
    amount          INTEGER NOT NULL,
    currency        TEXT    NOT NULL,
    method          TEXT    NOT NULL,
    status          TEXT    NOT NULL,
    failure_reason  TEXT    NOT NULL,
    created_at      INTEGER NOT NULL
) STRICT;

CREATE INDEX payments_order_id ON payments (order_id, payment_seq);

-- The user purchase history: confirmed units per user and item, written in
-- the same transaction as the confirmation, for reporting and limit checks
-- outside the hot path.
CREATE TABLE user_purchases (
    user_id            TEXT    NOT NULL,
    item_id            TEXT    NOT NULL REFERENCES flash_sale_items (item_id),
    quantity_purchased INTEGER NOT NULL,
    last_purchase_at   INTEGER NOT NULL,
    PRIMARY KEY (user_id, item_id)
) STRICT, WITHOUT ROWID;

-- +goose Down
DROP TABLE user_purchases;
DROP TABLE payments;
DROP TABLE orders;
DROP TABLE flash_sale_items;
DROP TABLE flash_sales;
