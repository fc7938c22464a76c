-- +goose Up
-- The circuit breaker (breaker.go): an endpoint's circuit, and deliveries held
-- while it is open. consecutive_failures now counts failed attempts since the
-- last success, and failing_since is when the first of them was made (they
-- counted deliveries failed for good).
ALTER TABLE endpoints
    ADD COLUMN circuit_state     text NOT NULL DEFAULT 'closed' CHECK (circuit_state IN ('closed', 'open', 'half_open')),
    ADD COLUMN circuit_since     timestamptz,  -- when it last opened (open, half_open) or closed
    ADD COLUMN probe_at          timestamptz,  -- open: the next probe is due; half_open: the probe was sent
    ADD COLUMN probe_interval_ms bigint,       -- the wait before the next probe (doubles per failed probe)
    ADD COLUMN probe_delivery_id uuid,         -- half_open: the delivery sent as the probe
    ADD COLUMN releasing         boolean NOT NULL DEFAULT false, -- held deliveries are being released
    ADD COLUMN disabled_at       timestamptz;
UPDATE endpoints SET consecutive_failures = 0, failing_since = NULL;
UPDATE endpoints SET disabled_at = updated_at WHERE NOT enabled;
-- The breaker's scan: circuits not closed, and endpoints releasing.
CREATE INDEX endpoints_circuit_idx ON endpoints (probe_at) WHERE circuit_state <> 'closed' OR releasing;

ALTER TABLE deliveries DROP CONSTRAINT deliveries_status_check;
ALTER TABLE deliveries ADD CONSTRAINT deliveries_status_check
    CHECK (status IN ('pending', 'retrying', 'held', 'succeeded', 'failed'));
-- Held deliveries of an endpoint in their original order (created_at is when
-- the event was received).
CREATE INDEX deliveries_held_idx ON deliveries (endpoint_id, created_at, id) WHERE status = 'held';

-- +goose Down
DROP INDEX deliveries_held_idx;
UPDATE deliveries SET status = 'pending', next_attempt_at = now() WHERE status = 'held';
ALTER TABLE deliveries DROP CONSTRAINT deliveries_status_check;
ALTER TABLE deliveries ADD CONSTRAINT deliveries_status_check
    CHECK (status IN ('pending', 'retrying', 'succeeded', 'failed'));
DROP INDEX endpoints_circuit_idx;
ALTER TABLE endpoints
    DROP COLUMN circuit_state, DROP COLUMN circuit_since, DROP COLUMN probe_at, DROP COLUMN probe_interval_ms,
    DROP COLUMN probe_delivery_id, DROP COLUMN releasing, DROP COLUMN disabled_at;
