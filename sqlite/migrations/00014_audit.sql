-- Every admin action: who (the token's sub), what, when, and the sale
-- before and after, listed per sale (GET /admin/audit?sale_id=).

-- +goose Up
CREATE TABLE audit_log (
    audit_id   TEXT PRIMARY KEY,
    sale_id    TEXT NOT NULL,
    admin      TEXT NOT NULL,
    action     TEXT NOT NULL,
    at         INTEGER NOT NULL,
    request    TEXT NOT NULL,
    before     TEXT NOT NULL,
    after      TEXT NOT NULL
);
CREATE INDEX audit_log_sale_at ON audit_log (sale_id, at, audit_id);

-- +goose Down
DROP TABLE audit_log;
