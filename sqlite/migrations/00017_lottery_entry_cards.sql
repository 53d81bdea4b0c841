-- The card (a hashed fingerprint) a lottery entry is counted under, for a
-- sale that limits purchases per card: a card is claimed at entry, as a
-- raffle pre-authorises it, so a farm cannot enter once per account with
-- one card.

-- +goose Up
ALTER TABLE lottery_entries ADD COLUMN card_key TEXT NOT NULL DEFAULT '';
CREATE INDEX lottery_entries_sale_card ON lottery_entries (sale_id, card_key)
    WHERE card_key <> '' AND status <> 'lost';

-- +goose Down
DROP INDEX lottery_entries_sale_card;
ALTER TABLE lottery_entries DROP COLUMN card_key;
