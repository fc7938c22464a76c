-- +goose Up
-- Ordered delivery. An event's ordering key (the sender's, or derived:
-- webhooks.DeriveOrderingKey) is kept with it; a delivery to an endpoint with
-- ordered on carries it, and so does its open_deliveries row while it is open:
-- a delivery is taken only when no open delivery of its endpoint and key comes
-- before it (store.Take). The partial index holds ordered deliveries only, so
-- an unordered one writes no entry to it.
ALTER TABLE endpoints ADD COLUMN ordered boolean NOT NULL DEFAULT false;
ALTER TABLE events ADD COLUMN ordering_key text;
ALTER TABLE deliveries ADD COLUMN ordering_key text;
ALTER TABLE open_deliveries ADD COLUMN ordering_key text;
CREATE INDEX open_deliveries_ordered_idx ON open_deliveries (endpoint_id, ordering_key, created_at, delivery_id)
    WHERE ordering_key IS NOT NULL;

-- +goose Down
DROP INDEX open_deliveries_ordered_idx;
ALTER TABLE open_deliveries DROP COLUMN ordering_key;
ALTER TABLE deliveries DROP COLUMN ordering_key;
ALTER TABLE events DROP COLUMN ordering_key;
ALTER TABLE endpoints DROP COLUMN ordered;
