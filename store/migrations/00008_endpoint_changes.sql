-- +goose Up
-- Workers keep the endpoints they deliver to in memory (store/endpointcache.go).
-- Every change of an endpoint, by any statement, counts its version up, and
-- every change or deletion notifies them on channel empfio_endpoint_changed,
-- with the endpoint's id, once its transaction commits: they drop their copy.
-- A delivery's task carries its endpoint's version as published, so a copy
-- older than that is never used, whenever the notification arrives.
ALTER TABLE endpoints ADD COLUMN version bigint NOT NULL DEFAULT 1;
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

-- +goose Down
DROP TRIGGER endpoints_changed ON endpoints;
DROP FUNCTION empfio_endpoint_changed();
ALTER TABLE endpoints DROP COLUMN version;
