-- A lottery item's entries sealed for its draw: once the seal is
-- committed, no entry of the item is stored any more, so the draw's list of
-- entries is every entry the store will ever hold of it (an entry accepted
-- just before entries_close may commit after it).

-- +goose Up
CREATE TABLE lottery_seals (
    item_id   TEXT PRIMARY KEY,
    sealed_at timestamptz NOT NULL
);

-- +goose Down
DROP TABLE lottery_seals;
