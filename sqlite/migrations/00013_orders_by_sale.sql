-- A sale's orders in id (creation) order, for the operators' listing and
-- export (GET /admin/flash-sales/{id}/orders), a page at a time.

-- +goose Up
CREATE INDEX orders_sale_order ON orders (sale_id, order_id);

-- +goose Down
DROP INDEX orders_sale_order;
