-- +goose Up
-- The audit log: partitioned by day like the history, its days made and
-- dropped with them (empfio_day_partitions, DropPartition), so it is kept as
-- long as the history and retention drops it whole.
CREATE TABLE audit_events (
    id                uuid NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    organization_id   uuid NOT NULL,
    action            text NOT NULL,
    api_key_id        uuid,
    portal_session_id uuid,
    target_type       text NOT NULL,
    target_id         text,
    detail            jsonb,
    ip                text NOT NULL DEFAULT '',
    user_agent        text NOT NULL DEFAULT '',
    request_id        text NOT NULL DEFAULT '',
    PRIMARY KEY (id, created_at)
) PARTITION BY RANGE (created_at);
CREATE INDEX audit_events_organization_idx ON audit_events (organization_id, created_at DESC, id DESC);
CREATE TABLE audit_events_default PARTITION OF audit_events DEFAULT;

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION empfio_day_partitions(d date) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    suffix text := to_char(d, 'YYYYMMDD');
    lo text := quote_literal(d::text || ' 00:00:00+00');
    hi text := quote_literal((d + 1)::text || ' 00:00:00+00');
BEGIN
    EXECUTE format('CREATE TABLE IF NOT EXISTS events_p%s PARTITION OF events FOR VALUES FROM (%s) TO (%s)', suffix, lo, hi);
    EXECUTE format('CREATE TABLE IF NOT EXISTS deliveries_p%s PARTITION OF deliveries FOR VALUES FROM (%s) TO (%s) WITH (fillfactor = 70)', suffix, lo, hi);
    EXECUTE format('CREATE TABLE IF NOT EXISTS attempts_p%s PARTITION OF attempts FOR VALUES FROM (%s) TO (%s)', suffix, lo, hi);
    EXECUTE format('CREATE TABLE IF NOT EXISTS audit_events_p%s PARTITION OF audit_events FOR VALUES FROM (%s) TO (%s)', suffix, lo, hi);
END
$$;
-- +goose StatementEnd

-- The days the history has partitions for get theirs.
-- +goose StatementBegin
DO $$
DECLARE r record;
BEGIN
    FOR r IN SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'deliveries'::regclass AND c.relname ~ '^deliveries_p[0-9]{8}$'
    LOOP
        PERFORM empfio_day_partitions(to_date(substring(r.relname FROM 13), 'YYYYMMDD'));
    END LOOP;
END
$$;
-- +goose StatementEnd

-- +goose Down
DROP TABLE audit_events;
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION empfio_day_partitions(d date) RETURNS void LANGUAGE plpgsql AS $$
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
