-- An order refunded by an operator after its confirmation (status
-- 'refunded'): SQLite's orders table has no check on the status, so only
-- the version moves, in step with PostgreSQL's.

-- +goose Up
SELECT 1;

-- +goose Down
SELECT 1;
