-- A sale's proof-of-work challenge settings, as the API's "challenge"
-- object (NULL: the sale asks for none).

-- +goose Up
ALTER TABLE flash_sales ADD COLUMN challenge TEXT;

-- +goose Down
ALTER TABLE flash_sales DROP COLUMN challenge;
