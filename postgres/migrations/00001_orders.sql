-- The distributed store's schema, after the seed's (section 5.2) and the
-- same in spirit as the embedded store's (sqlite/migrations).
--
-- Money is BIGINT minor units (cents), never floating point. Times are
-- timestamptz, which keeps microseconds: the precision both stores round-trip.
-- The reservation TTL is an interval. Ids are text, not uuid: the store
-- keeps whatever ids the application makes (user ids come from JWT
-- subjects), and an unknown id must be "not found", not an invalid-input
-- error.
--
-- Not kept from the seed: flash_sales.status, which Sale.Status derives from
-- the window and the clock, and the items' reserved and sold counters, which
-- the inventory owns during a sale and the orders table answers afterwards.

-- +goose Up
CREATE TABLE flash_sales (
    sale_id         text        PRIMARY KEY,
    name            text        NOT NULL,
    start_time      timestamptz NOT NULL,
    end_time        timestamptz NOT NULL,
    mode            text        NOT NULL,
    admission       text        NOT NULL,
    reservation_ttl interval    NOT NULL,
    created_at      timestamptz NOT NULL
);

CREATE INDEX flash_sales_start_time ON flash_sales (start_time);

CREATE TABLE flash_sale_items (
    item_id        text    PRIMARY KEY,
    sale_id        text    NOT NULL REFERENCES flash_sales (sale_id),
    -- position keeps the items in the order the admin gave them.
    position       integer NOT NULL,
    product_id     text    NOT NULL,
    name           text    NOT NULL,
    original_price bigint  NOT NULL,
    sale_price     bigint  NOT NULL,
    currency       text    NOT NULL,
    total_quantity bigint  NOT NULL,
    per_user_limit bigint  NOT NULL,
    UNIQUE (sale_id, position),
    -- The target of orders' foreign key, which proves an order's item
    -- belongs to the order's sale.
    UNIQUE (sale_id, item_id)
);

CREATE TABLE orders (
    order_id           text        PRIMARY KEY,
    sale_id            text        NOT NULL,
    item_id            text        NOT NULL,
    user_id            text        NOT NULL,
    quantity           bigint      NOT NULL CHECK (quantity > 0),
    status             text        NOT NULL CHECK (status IN
                           ('reserved', 'paying', 'confirmed', 'expired', 'cancelled', 'payment_failed')),
    unit_price         bigint      NOT NULL,
    total_amount       bigint      GENERATED ALWAYS AS (unit_price * quantity) STORED,
    currency           text        NOT NULL,
    reserved_at        timestamptz NOT NULL,
    expires_at         timestamptz NOT NULL,
    confirmed_at       timestamptz,
    updated_at         timestamptz NOT NULL,
    payment_attempts   integer     NOT NULL,
    last_payment_error text        NOT NULL,
    payment_id         text        NOT NULL,
    -- '' when the client sent no Idempotency-Key.
    idempotency_key    text        NOT NULL,
    -- Named: the store maps its violation to item_not_found.
    CONSTRAINT orders_item_of_sale FOREIGN KEY (sale_id, item_id)
        REFERENCES flash_sale_items (sale_id, item_id)
);

-- A client's Idempotency-Key names one order of that user; requests
-- without a key never collide. Named: the store maps its violation to
-- idempotency_key_reused.
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
    payment_seq     bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    order_id        text        NOT NULL REFERENCES orders (order_id),
    payment_id      text        NOT NULL,
    attempt         integer     NOT NULL,
    idempotency_key text        NOT NULL,
    amount          bigint      NOT NULL,
    currency        text        NOT NULL,
    method          text        NOT NULL,
    status          text        NOT NULL CHECK (status IN ('succeeded', 'declined')),
    failure_reason  text        NOT NULL,
    created_at      timestamptz NOT NULL
);

CREATE INDEX payments_order_id ON payments (order_id, payment_seq);

-- The user purchase history: confirmed units per user and item, written in
-- the same transaction as the confirmation, for reporting and limit checks
-- outside the hot path.
CREATE TABLE user_purchases (
    user_id            text        NOT NULL,
    item_id            text        NOT NULL REFERENCES flash_sale_items (item_id),
    quantity_purchased bigint      NOT NULL,
    last_purchase_at   timestamptz NOT NULL,
    PRIMARY KEY (user_id, item_id)
);

-- +goose Down
DROP TABLE user_purchases;
DROP TABLE payments;
DROP TABLE orders;
DROP TABLE flash_sale_items;
DROP TABLE flash_sales;
