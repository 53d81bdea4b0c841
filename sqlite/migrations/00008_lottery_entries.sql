-- A lottery's entries and draws. The draw is computed from the stored
-- entries, so they are as durable as orders. An entry's rank and order_id
-- have no NULLs: 0 and '' mean "not drawn" and "no reservation yet", which
-- keeps NextToReserve's condition a plain equality its index can serve.

-- +goose Up
CREATE TABLE lottery_entries (
    entry_id   TEXT    PRIMARY KEY,
    sale_id    TEXT    NOT NULL,
    item_id    TEXT    NOT NULL,
    user_id    TEXT    NOT NULL,
    entered_at INTEGER NOT NULL,
    status     TEXT    NOT NULL CHECK (status IN ('entered', 'won', 'waitlisted', 'lost')),
    rank       INTEGER NOT NULL DEFAULT 0,
    order_id   TEXT    NOT NULL DEFAULT '',
    -- One entry per user per item: the database decides, not a read
    -- before the write.
    UNIQUE (item_id, user_id),
    -- Proves the entry's item belongs to the entry's sale, as for orders.
    FOREIGN KEY (sale_id, item_id) REFERENCES flash_sale_items (sale_id, item_id)
) STRICT;

-- UserEntries: a user's entries of a sale, oldest first.
CREATE INDEX lottery_entries_sale_user ON lottery_entries (sale_id, user_id, entered_at, entry_id);
-- EntryIDs: the list a draw publishes, in BINARY (byte) order.
CREATE INDEX lottery_entries_item_entry ON lottery_entries (item_id, entry_id);
-- NextToReserve and LoseWaitlisted: only entries without a reservation,
-- so the winners already awarded are not scanned past on every wave.
CREATE INDEX lottery_entries_item_status_rank ON lottery_entries (item_id, status, rank)
    WHERE order_id = '';

CREATE TABLE lottery_draws (
    item_id        TEXT    PRIMARY KEY,
    sale_id        TEXT    NOT NULL,
    entries_digest TEXT    NOT NULL,
    entry_count    INTEGER NOT NULL,
    drawn_at       INTEGER NOT NULL,
    FOREIGN KEY (sale_id, item_id) REFERENCES flash_sale_items (sale_id, item_id)
) STRICT;

CREATE INDEX lottery_draws_sale ON lottery_draws (sale_id);

-- +goose Down
DROP TABLE lottery_draws;
DROP TABLE lottery_entries;
