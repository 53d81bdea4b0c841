-- A lottery's entries and draws. The draw is computed from the stored
-- entries, so they are as durable as orders. An entry's rank and order_id
-- have no NULLs: 0 and '' mean "not drawn" and "no reservation yet", which
-- keeps NextToReserve's condition a plain equality its index can serve.

-- +goose Up
CREATE TABLE lottery_entries (
    entry_id   text        PRIMARY KEY,
    sale_id    text        NOT NULL,
    item_id    text        NOT NULL,
    user_id    text        NOT NULL,
    entered_at timestamptz NOT NULL,
    status     text        NOT NULL CHECK (status IN ('entered', 'won', 'waitlisted', 'lost')),
    rank       bigint      NOT NULL DEFAULT 0,
    order_id   text        NOT NULL DEFAULT '',
    -- One entry per user per item, whichever instance takes it: the
    -- database decides, not a read before the write.
    CONSTRAINT lottery_entries_one_per_user UNIQUE (item_id, user_id),
    -- Named: the store maps its violation to item_not_found.
    CONSTRAINT lottery_entries_item_of_sale FOREIGN KEY (sale_id, item_id)
        REFERENCES flash_sale_items (sale_id, item_id)
);

-- UserEntries: a user's entries of a sale, oldest first.
CREATE INDEX lottery_entries_sale_user ON lottery_entries (sale_id, user_id, entered_at, entry_id COLLATE "C");
-- EntryIDs: the list a draw publishes is in byte order, which only the
-- "C" collation gives whatever the database's default.
CREATE INDEX lottery_entries_item_entry ON lottery_entries (item_id, entry_id COLLATE "C");
-- NextToReserve and LoseWaitlisted: only entries without a reservation,
-- so the winners already awarded are not scanned past on every wave.
CREATE INDEX lottery_entries_item_status_rank ON lottery_entries (item_id, status, rank)
    WHERE order_id = '';

CREATE TABLE lottery_draws (
    item_id        text        PRIMARY KEY,
    sale_id        text        NOT NULL,
    entries_digest text        NOT NULL,
    entry_count    bigint      NOT NULL,
    drawn_at       timestamptz NOT NULL,
    -- Named: the store maps its violation to item_not_found.
    CONSTRAINT lottery_draws_item_of_sale FOREIGN KEY (sale_id, item_id)
        REFERENCES flash_sale_items (sale_id, item_id)
);

CREATE INDEX lottery_draws_sale ON lottery_draws (sale_id);

-- +goose Down
DROP TABLE lottery_draws;
DROP TABLE lottery_entries;
