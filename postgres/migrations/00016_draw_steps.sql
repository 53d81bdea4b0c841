-- A draw is ranked a step at a time (RecordDraw): ranked_through counts
-- the places of the draw order its steps have ranked, and complete is set
-- by the last step. Draws recorded before were ranked whole.

-- +goose Up
ALTER TABLE lottery_draws ADD COLUMN ranked_through BIGINT NOT NULL DEFAULT 0;
ALTER TABLE lottery_draws ADD COLUMN complete BOOLEAN NOT NULL DEFAULT TRUE;

-- +goose Down
ALTER TABLE lottery_draws DROP COLUMN complete;
ALTER TABLE lottery_draws DROP COLUMN ranked_through;
