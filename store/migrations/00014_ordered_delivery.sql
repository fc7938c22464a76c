-- +goose Up
-- Ordered delivery. An event's ordering key (the sender's, or derived:
-- webhooks.DeriveOrderingKey) is kept with it; a delivery to an endpoint with
-- ordered on carries it, and so does its open_deliveries row while it is open:
-- a delivery is taken only when no open delivery of its endpoint and key comes
-- before it (store.Take) in acceptance order: (created_at, event_id), the
-- event id being a UUIDv7 that orders the events one api accepts within a
-- millisecond too. The partial index holds ordered deliveries only, so
-- an unordered one writes no entry to it.
ALTER TABLE endpoints ADD COLUMN ordered boolean NOT NULL DEFAULT false;
ALTER TABLE events ADD COLUMN ordering_key text;
ALTER TABLE deliveries ADD COLUMN ordering_key text;
ALTER TABLE open_deliveries ADD COLUMN ordering_key text, ADD COLUMN event_id uuid;
CREATE INDEX open_deliveries_ordered_idx ON open_deliveries (endpoint_id, ordering_key, created_at, event_id)
    WHERE ordering_key IS NOT NULL;

-- +goose Down
DROP INDEX open_deliveries_ordered_idx;
ALTER TABLE open_deliveries DROP COLUMN ordering_key, DROP COLUMN event_id;
ALTER TABLE deliveries DROP COLUMN ordering_key;
ALTER TABLE events DROP COLUMN ordering_key;
ALTER TABLE endpoints DROP COLUMN ordered;
