-- +goose Up
-- POST /events's Idempotency-Key: for 24 hours a key of an organization names
-- the event its first request stored, and the hash of that request's body. The
-- publish statement writes it with the event, so a key is stored if and only
-- if its event is. Maintenance deletes the keys past their 24 hours (a handful
-- of rows an hour; an expired key is also taken over by the next use of it).
CREATE TABLE idempotency_keys (
	organization_id uuid NOT NULL,
	key text NOT NULL,
	request_hash bytea NOT NULL,
	event_id uuid NOT NULL,
	event_created_at timestamptz NOT NULL,
	created_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (organization_id, key)
);
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);

-- +goose Down
DROP TABLE idempotency_keys;
