-- The phone and the address (hashed keys) a lottery entry is counted under,
-- for a sale that limits purchases per phone or per address: an entry
-- claims the units it may win, so a farm cannot enter twice with one phone.

-- +goose Up
ALTER TABLE lottery_entries ADD COLUMN phone_key text NOT NULL DEFAULT '';
ALTER TABLE lottery_entries ADD COLUMN address_key text NOT NULL DEFAULT '';
CREATE INDEX lottery_entries_sale_phone ON lottery_entries (sale_id, phone_key)
    WHERE phone_key <> '' AND status <> 'lost';
CREATE INDEX lottery_entries_sale_address ON lottery_entries (sale_id, address_key)
    WHERE address_key <> '' AND status <> 'lost';

-- +goose Down
DROP INDEX lottery_entries_sale_address;
DROP INDEX lottery_entries_sale_phone;
ALTER TABLE lottery_entries DROP COLUMN address_key;
ALTER TABLE lottery_entries DROP COLUMN phone_key;
