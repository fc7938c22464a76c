-- +goose Up
-- The outcome of an endpoint's last ping (on create, on a URL change, or on
-- demand), successful or not: the dashboard says when it failed.
ALTER TABLE endpoints ADD COLUMN last_ping_at timestamptz, ADD COLUMN last_ping_error text;

-- +goose Down
ALTER TABLE endpoints DROP COLUMN last_ping_at, DROP COLUMN last_ping_error;
