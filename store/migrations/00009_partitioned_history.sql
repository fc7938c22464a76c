-- +goose Up
-- The history — events, deliveries, attempts — is range-partitioned by day
-- (created_at, UTC; an attempt by its delivery's created_at, so that the three
-- partitions of a day go together). The worker's maintenance (store/partitions.go)
-- makes each day's partitions ahead of time and drops them past retention: no row
-- is deleted one by one. A default partition of each table takes any row outside
-- the days made, so no insert can fail.
--
-- No foreign key joins them, nor to endpoints: an endpoint's delete is a tombstone
-- (deleted_at) that cancels its open deliveries, and its row is purged once its
-- history is gone (store/endpoints.go).
--
-- A delivery's row holds its facts and its state. Nothing indexed changes when
-- an attempt is recorded, so the update is HOT (fillfactor 70 leaves it room on
-- the page); the deliveries that are not final are listed in open_deliveries,
-- a small table the sweeper, the breaker and deletes read.
--
-- The existing rows are copied into the new tables, and the old ones dropped.

-- A UUIDv7 of time ts (RFC 9562): the ids of deliveries made in SQL start with
-- their creation time, as events' (made in Go) do.
-- +goose StatementBegin
CREATE FUNCTION empfio_uuidv7(ts timestamptz) RETURNS uuid LANGUAGE sql VOLATILE AS $$
    SELECT encode(set_bit(set_bit(overlay(uuid_send(gen_random_uuid())
        PLACING substring(int8send(floor(extract(epoch FROM ts) * 1000)::bigint) FROM 3) FROM 1 FOR 6), 52, 1), 53, 1), 'hex')::uuid
$$;
-- +goose StatementEnd

-- empfio_day_partitions makes the partitions of day d (UTC) of the three
-- tables, unless they exist.
-- +goose StatementBegin
CREATE FUNCTION empfio_day_partitions(d date) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    suffix text := to_char(d, 'YYYYMMDD');
    lo text := quote_literal(d::text || ' 00:00:00+00');
    hi text := quote_literal((d + 1)::text || ' 00:00:00+00');
BEGIN
    EXECUTE format('CREATE TABLE IF NOT EXISTS events_p%s PARTITION OF events FOR VALUES FROM (%s) TO (%s)', suffix, lo, hi);
    EXECUTE format('CREATE TABLE IF NOT EXISTS deliveries_p%s PARTITION OF deliveries FOR VALUES FROM (%s) TO (%s) WITH (fillfactor = 70)', suffix, lo, hi);
    EXECUTE format('CREATE TABLE IF NOT EXISTS attempts_p%s PARTITION OF attempts FOR VALUES FROM (%s) TO (%s)', suffix, lo, hi);
END
$$;
-- +goose StatementEnd

ALTER TABLE attempts RENAME TO attempts_v1;
ALTER TABLE deliveries RENAME TO deliveries_v1;
ALTER TABLE events RENAME TO events_v1;
ALTER INDEX events_pkey RENAME TO events_v1_pkey;
ALTER INDEX deliveries_pkey RENAME TO deliveries_v1_pkey;
ALTER INDEX attempts_pkey RENAME TO attempts_v1_pkey;
DROP INDEX events_organization_idx, events_created_idx, events_dedup_idx, events_calcom_dedup_idx,
    deliveries_endpoint_idx, deliveries_event_idx, deliveries_due_idx, deliveries_held_idx;

CREATE TABLE events (
    id              uuid NOT NULL,
    created_at      timestamptz NOT NULL,
    organization_id uuid NOT NULL,
    type            text NOT NULL,
    source          text NOT NULL,
    external_id     text,
    occurred_at     timestamptz NOT NULL,
    envelope        json NOT NULL, -- json, not jsonb: the exact bytes every attempt sends
    dedup_key       text,          -- the inbound dedup key it was accepted under
    PRIMARY KEY (id, created_at)
) PARTITION BY RANGE (created_at);
CREATE INDEX events_organization_idx ON events (organization_id, created_at DESC, id DESC);
CREATE INDEX events_dedup_idx ON events (organization_id, dedup_key, created_at) WHERE dedup_key IS NOT NULL;

CREATE TABLE deliveries (
    id               uuid NOT NULL,
    created_at       timestamptz NOT NULL, -- its event's
    organization_id  uuid NOT NULL,
    event_id         uuid NOT NULL,
    endpoint_id      uuid NOT NULL,
    event_type       text NOT NULL,
    status           text NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'retrying', 'held', 'succeeded', 'failed')),
    attempts         int NOT NULL DEFAULT 0,
    manual           boolean NOT NULL DEFAULT false, -- a retry or replay: one attempt, then final
    next_attempt_at  timestamptz,
    lease_until      timestamptz, -- taken for an attempt until then (store/attempts.go)
    last_status_code int,
    last_error       text,
    updated_at       timestamptz NOT NULL,
    completed_at     timestamptz,
    PRIMARY KEY (id, created_at)
) PARTITION BY RANGE (created_at);
-- The delivery log of an endpoint, newest first; an event's deliveries are
-- found by its created_at (BRIN: nearly free to keep up).
CREATE INDEX deliveries_endpoint_idx ON deliveries (endpoint_id, created_at DESC, id DESC);
CREATE INDEX deliveries_created_brin ON deliveries USING brin (created_at) WITH (pages_per_range = 16);

CREATE TABLE attempts (
    delivery_id         uuid NOT NULL,
    delivery_created_at timestamptz NOT NULL,
    number              int NOT NULL,
    started_at          timestamptz NOT NULL,
    duration_ms         int NOT NULL,
    status_code         int,
    response_body       text,
    error               text,
    PRIMARY KEY (delivery_id, delivery_created_at, number)
) PARTITION BY RANGE (delivery_created_at);

CREATE TABLE events_default PARTITION OF events DEFAULT;
CREATE TABLE deliveries_default PARTITION OF deliveries DEFAULT WITH (fillfactor = 70);
CREATE TABLE attempts_default PARTITION OF attempts DEFAULT;

-- The deliveries that are not final (pending, retrying, held), by endpoint in
-- their original order: inserted with the delivery, deleted when it ends.
CREATE TABLE open_deliveries (
    endpoint_id uuid NOT NULL,
    created_at  timestamptz NOT NULL,
    delivery_id uuid NOT NULL,
    PRIMARY KEY (endpoint_id, created_at, delivery_id)
);

-- A Cal.com booking is stored once per organization, trigger and uid for as
-- long as it is retained (a unique index of a partitioned table would be per
-- day): its dedup keys, trimmed with the history.
CREATE TABLE calcom_bookings (
    organization_id uuid NOT NULL,
    dedup_key       text NOT NULL,
    event_id        uuid NOT NULL,
    created_at      timestamptz NOT NULL,
    PRIMARY KEY (organization_id, dedup_key)
);

-- The days the existing rows fall on, and the week ahead.
-- +goose StatementBegin
DO $$
DECLARE d date;
BEGIN
    FOR d IN
        SELECT DISTINCT (created_at AT TIME ZONE 'UTC')::date FROM events_v1
        UNION SELECT DISTINCT (created_at AT TIME ZONE 'UTC')::date FROM deliveries_v1
        UNION SELECT generate_series((now() AT TIME ZONE 'UTC')::date, (now() AT TIME ZONE 'UTC')::date + 7, interval '1 day')::date
    LOOP
        PERFORM empfio_day_partitions(d);
    END LOOP;
END
$$;
-- +goose StatementEnd

INSERT INTO events (id, created_at, organization_id, type, source, external_id, occurred_at, envelope, dedup_key)
    SELECT id, created_at, organization_id, type, source, external_id, occurred_at, envelope, dedup_key FROM events_v1;
-- A delivery's created_at becomes its event's (the two were made in one
-- statement, so they differed by nothing but clock steps): an event and its
-- deliveries share a day, and are found together.
INSERT INTO deliveries (id, created_at, organization_id, event_id, endpoint_id, event_type, status, attempts, manual,
        next_attempt_at, last_status_code, last_error, updated_at, completed_at)
    SELECT d.id, e.created_at, d.organization_id, d.event_id, d.endpoint_id, d.event_type, d.status, d.attempts, d.manual,
        d.next_attempt_at, d.last_status_code, d.last_error, d.updated_at, d.completed_at
    FROM deliveries_v1 d JOIN events_v1 e ON e.id = d.event_id;
INSERT INTO attempts (delivery_id, delivery_created_at, number, started_at, duration_ms, status_code, response_body, error)
    SELECT a.delivery_id, e.created_at, a.number, a.started_at, a.duration_ms, a.status_code, a.response_body, a.error
    FROM attempts_v1 a JOIN deliveries_v1 d ON d.id = a.delivery_id JOIN events_v1 e ON e.id = d.event_id;
INSERT INTO open_deliveries (endpoint_id, created_at, delivery_id)
    SELECT d.endpoint_id, e.created_at, d.id FROM deliveries_v1 d JOIN events_v1 e ON e.id = d.event_id
    WHERE d.status IN ('pending', 'retrying', 'held');
INSERT INTO calcom_bookings (organization_id, dedup_key, event_id, created_at)
    SELECT DISTINCT ON (organization_id, dedup_key) organization_id, dedup_key, id, created_at
    FROM events_v1 WHERE source = 'calcom' AND dedup_key IS NOT NULL ORDER BY organization_id, dedup_key, created_at;

DROP TABLE attempts_v1;
DROP TABLE deliveries_v1;
DROP TABLE events_v1;

-- Endpoints: a tombstone, and the circuit's version (a breaker decision is
-- stored only over the version it was made from). The breaker releases what
-- was held one at a time, each when the attempt of the one before ends
-- (release_head), not by a flag a loop polls; and
-- workers read each endpoint when they attempt a delivery to it, so the
-- change notifications of the endpoint cache go.
DROP TRIGGER endpoints_changed ON endpoints;
DROP FUNCTION empfio_endpoint_changed();
DROP INDEX endpoints_circuit_idx;
UPDATE endpoints SET circuit_state = 'closed', circuit_since = now(), probe_at = NULL, probe_delivery_id = NULL
    WHERE releasing AND circuit_state = 'closed';
ALTER TABLE endpoints
    DROP COLUMN releasing,
    DROP COLUMN version,
    ADD COLUMN circuit_version bigint NOT NULL DEFAULT 0,
    ADD COLUMN release_head uuid, -- the held delivery released last, whose attempt the next one waits for
    ADD COLUMN deleted_at timestamptz;
-- The circuits the sweeper looks after (their timers).
CREATE INDEX endpoints_circuit_idx ON endpoints (id) WHERE circuit_state <> 'closed';

-- +goose Down
ALTER TABLE endpoints DROP COLUMN circuit_version, DROP COLUMN deleted_at, DROP COLUMN release_head,
    ADD COLUMN releasing boolean NOT NULL DEFAULT false, ADD COLUMN version bigint NOT NULL DEFAULT 1;
DROP INDEX endpoints_circuit_idx;
CREATE INDEX endpoints_circuit_idx ON endpoints (probe_at) WHERE circuit_state <> 'closed' OR releasing;
-- +goose StatementBegin
CREATE FUNCTION empfio_endpoint_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('empfio_endpoint_changed', OLD.id::text);
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    NEW.version := OLD.version + 1;
    RETURN NEW;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER endpoints_changed BEFORE UPDATE OR DELETE ON endpoints
    FOR EACH ROW EXECUTE FUNCTION empfio_endpoint_changed();

ALTER TABLE events RENAME TO events_v2;
ALTER TABLE deliveries RENAME TO deliveries_v2;
ALTER TABLE attempts RENAME TO attempts_v2;
CREATE TABLE events (
    id              uuid PRIMARY KEY,
    organization_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    type            text NOT NULL,
    source          text NOT NULL,
    external_id     text,
    occurred_at     timestamptz NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    envelope        json NOT NULL,
    dedup_key       text
);
INSERT INTO events SELECT e.id, e.organization_id, e.type, e.source, e.external_id, e.occurred_at, e.created_at, e.envelope, e.dedup_key
    FROM events_v2 e JOIN organizations o ON o.id = e.organization_id;
CREATE INDEX events_organization_idx ON events (organization_id, created_at DESC, id DESC);
CREATE INDEX events_created_idx ON events (created_at);
CREATE INDEX events_dedup_idx ON events (organization_id, dedup_key, created_at) WHERE dedup_key IS NOT NULL;
CREATE UNIQUE INDEX events_calcom_dedup_idx ON events (organization_id, dedup_key) WHERE source = 'calcom';
DELETE FROM endpoints WHERE deleted_at IS NOT NULL;
CREATE TABLE deliveries (
    id               uuid PRIMARY KEY,
    organization_id  uuid NOT NULL,
    event_id         uuid NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    endpoint_id      uuid NOT NULL REFERENCES endpoints (id) ON DELETE CASCADE,
    event_type       text NOT NULL,
    status           text NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'retrying', 'held', 'succeeded', 'failed')),
    attempts         int NOT NULL DEFAULT 0,
    manual           boolean NOT NULL DEFAULT false,
    next_attempt_at  timestamptz,
    last_status_code int,
    last_error       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    completed_at     timestamptz
);
INSERT INTO deliveries SELECT d.id, d.organization_id, d.event_id, d.endpoint_id, d.event_type, d.status, d.attempts, d.manual,
        d.next_attempt_at, d.last_status_code, d.last_error, d.created_at, d.updated_at, d.completed_at
    FROM deliveries_v2 d WHERE EXISTS (SELECT 1 FROM events e WHERE e.id = d.event_id) AND EXISTS (SELECT 1 FROM endpoints e WHERE e.id = d.endpoint_id);
CREATE INDEX deliveries_endpoint_idx ON deliveries (endpoint_id, created_at DESC, id DESC);
CREATE INDEX deliveries_event_idx ON deliveries (event_id);
CREATE INDEX deliveries_due_idx ON deliveries (next_attempt_at) WHERE status IN ('pending', 'retrying');
CREATE INDEX deliveries_held_idx ON deliveries (endpoint_id, created_at, id) WHERE status = 'held';
CREATE TABLE attempts (
    delivery_id   uuid NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
    number        int NOT NULL,
    started_at    timestamptz NOT NULL,
    duration_ms   int NOT NULL,
    status_code   int,
    response_body text,
    error         text,
    PRIMARY KEY (delivery_id, number)
);
INSERT INTO attempts SELECT a.delivery_id, a.number, a.started_at, a.duration_ms, a.status_code, a.response_body, a.error
    FROM attempts_v2 a WHERE EXISTS (SELECT 1 FROM deliveries d WHERE d.id = a.delivery_id);
DROP TABLE attempts_v2, deliveries_v2, events_v2, open_deliveries, calcom_bookings;
DROP FUNCTION empfio_day_partitions(date);
DROP FUNCTION empfio_uuidv7(timestamptz);
