-- +goose Up
-- Retention scans events by age across organizations.
CREATE INDEX events_created_idx ON events (created_at);

-- +goose Down
DROP INDEX events_created_idx;
