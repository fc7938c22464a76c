-- +goose Up
CREATE TABLE organizations (
    id         uuid PRIMARY KEY,
    name       text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Keys are stored as their SHA-256 only; prefix is the clear start shown in lists.
CREATE TABLE api_keys (
    id              uuid PRIMARY KEY,
    organization_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name            text NOT NULL DEFAULT '',
    prefix          text NOT NULL,
    hash            bytea NOT NULL UNIQUE,
    created_at      timestamptz NOT NULL DEFAULT now(),
    revoked_at      timestamptz
);
CREATE INDEX api_keys_organization_idx ON api_keys (organization_id, created_at);

CREATE TABLE endpoints (
    id                          uuid PRIMARY KEY,
    organization_id             uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    url                         text NOT NULL,
    description                 text NOT NULL DEFAULT '',
    events                      text[] NOT NULL,
    enabled                     boolean NOT NULL DEFAULT true,
    disabled_reason             text,
    max_retries                 int,      -- NULL: the service default
    retry_window_seconds        bigint,   -- NULL: the service default
    secret                      text NOT NULL,
    previous_secret             text,
    previous_secret_expires_at  timestamptz,
    last_ping_ok_at             timestamptz,
    consecutive_failures        int NOT NULL DEFAULT 0,  -- final failed deliveries in a row
    failing_since               timestamptz,             -- first of those failures
    created_at                  timestamptz NOT NULL DEFAULT now(),
    updated_at                  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX endpoints_organization_idx ON endpoints (organization_id, created_at DESC, id DESC);

-- envelope is json, not jsonb: it keeps the exact bytes every attempt sends.
CREATE TABLE events (
    id              uuid PRIMARY KEY,
    organization_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    type            text NOT NULL,
    source          text NOT NULL,
    external_id     text,
    occurred_at     timestamptz NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    envelope        json NOT NULL
);
CREATE INDEX events_organization_idx ON events (organization_id, created_at DESC, id DESC);

CREATE TABLE deliveries (
    id               uuid PRIMARY KEY,
    organization_id  uuid NOT NULL,
    event_id         uuid NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    endpoint_id      uuid NOT NULL REFERENCES endpoints (id) ON DELETE CASCADE,
    event_type       text NOT NULL,
    status           text NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'retrying', 'succeeded', 'failed')),
    attempts         int NOT NULL DEFAULT 0,
    manual           boolean NOT NULL DEFAULT false, -- a retry or replay: one attempt, then final
    next_attempt_at  timestamptz,
    last_status_code int,
    last_error       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    completed_at     timestamptz
);
-- The delivery log of an endpoint, newest first, optionally by status.
CREATE INDEX deliveries_endpoint_idx ON deliveries (endpoint_id, created_at DESC, id DESC);
CREATE INDEX deliveries_event_idx ON deliveries (event_id);
-- The sweeper's scan: only deliveries that are not final.
CREATE INDEX deliveries_due_idx ON deliveries (next_attempt_at)
    WHERE status IN ('pending', 'retrying');

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

-- +goose Down
DROP TABLE attempts;
DROP TABLE deliveries;
DROP TABLE events;
DROP TABLE endpoints;
DROP TABLE api_keys;
DROP TABLE organizations;
