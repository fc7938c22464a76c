-- +goose Up
-- An endpoint's own delivery rate limit (deliveries a second); NULL: unlimited.
ALTER TABLE endpoints ADD COLUMN rate_limit_per_second int;

-- +goose Down
ALTER TABLE endpoints DROP COLUMN rate_limit_per_second;
