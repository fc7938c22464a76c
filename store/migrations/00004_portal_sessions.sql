-- +goose Up
-- Dashboard links for one organization. Only the token's SHA-256 is stored; a
-- session ends when it expires or when the API key that made it is revoked.
CREATE TABLE portal_sessions (
    id                  uuid PRIMARY KEY,
    organization_id     uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    api_key_id          uuid NOT NULL REFERENCES api_keys (id) ON DELETE CASCADE,
    token_hash          bytea NOT NULL UNIQUE,
    read_only           boolean NOT NULL,
    allowed_event_types text[] NOT NULL DEFAULT '{}',
    expires_at          timestamptz NOT NULL,
    created_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX portal_sessions_expires_idx ON portal_sessions (expires_at);

-- +goose Down
DROP TABLE portal_sessions;
