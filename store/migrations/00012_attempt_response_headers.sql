-- +goose Up
-- The headers of a receiver's answer, as the attempt log keeps them (at most
-- 4 KiB: webhooks.ResponseHeaders); NULL when no answer came.
ALTER TABLE attempts ADD COLUMN response_headers jsonb;

-- +goose Down
ALTER TABLE attempts DROP COLUMN response_headers;
