-- +goose Up
-- Each organization's own Cal.com subscriber URL and signing secret. The URL's
-- token is stored as its SHA-256 only; the secret is needed in clear to verify
-- X-Cal-Signature-256.
CREATE TABLE calcom_integrations (
    organization_id uuid PRIMARY KEY REFERENCES organizations (id) ON DELETE CASCADE,
    token_hash      bytea NOT NULL UNIQUE,
    secret          text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now()
);

-- A Cal.com booking event is stored once per organization, trigger and booking
-- uid (its dedup key) for as long as it is retained: a replayed body is a
-- duplicate, however late.
CREATE UNIQUE INDEX events_calcom_dedup_idx ON events (organization_id, dedup_key) WHERE source = 'calcom';

-- +goose Down
DROP INDEX events_calcom_dedup_idx;
DROP TABLE calcom_integrations;
