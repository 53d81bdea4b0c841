-- A notification and its deliveries are written in the statement of the
-- change they tell of, from the rows that statement wrote (see
-- notificationWrites), and no row of orders or notifications is ever
-- deleted: their references hold by construction. The foreign keys
-- checked them again on every row, each check a lock of the parent row,
-- which costs a WAL record and a dirtied page: a sixth of PostgreSQL's
-- CPU per order (BenchmarkCreateOrder). The tests check the references
-- after every scenario instead (TestStore).

-- +goose Up
ALTER TABLE notifications DROP CONSTRAINT notifications_order_id_fkey;
ALTER TABLE notification_deliveries DROP CONSTRAINT notification_deliveries_notification_seq_fkey;

-- +goose Down
ALTER TABLE notification_deliveries ADD CONSTRAINT notification_deliveries_notification_seq_fkey
    FOREIGN KEY (notification_seq) REFERENCES notifications (notification_seq);
ALTER TABLE notifications ADD CONSTRAINT notifications_order_id_fkey
    FOREIGN KEY (order_id) REFERENCES orders (order_id);
