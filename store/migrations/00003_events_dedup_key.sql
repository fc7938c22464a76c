-- +goose Up
-- The inbound dedup key an event was accepted under, so that a repeat meeting a
-- claim still in flight can ask whether the event is already stored.
ALTER TABLE events ADD COLUMN dedup_key text;
CREATE INDEX events_dedup_idx ON events (organization_id, dedup_key, created_at) WHERE dedup_key IS NOT NULL;

-- +goose Down
DROP INDEX events_dedup_idx;
ALTER TABLE events DROP COLUMN dedup_key;
