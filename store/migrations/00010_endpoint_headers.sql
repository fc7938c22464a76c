-- +goose Up
-- An endpoint's custom headers, sent on every attempt: a JSON object, stored
-- like the secrets (sealed when SECRET_ENCRYPTION_KEY is set); NULL: none.
ALTER TABLE endpoints ADD COLUMN headers text;

-- +goose Down
ALTER TABLE endpoints DROP COLUMN headers;
