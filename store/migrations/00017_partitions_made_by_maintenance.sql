-- +goose Up
-- Maintenance makes a day's partitions itself now, one table per transaction
-- and attached rather than created as partitions (store/partitions.go): the
-- function made all of a day's in one transaction, holding each parent's
-- ACCESS EXCLUSIVE lock while it waited for the next one's, and deadlocked
-- with a statement of the hot path that read two of them.
DROP FUNCTION empfio_day_partitions(date);

-- +goose Down
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
    EXECUTE format('CREATE TABLE IF NOT EXISTS audit_events_p%s PARTITION OF audit_events FOR VALUES FROM (%s) TO (%s)', suffix, lo, hi);
END
$$;
-- +goose StatementEnd
