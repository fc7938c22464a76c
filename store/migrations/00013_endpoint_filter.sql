-- +goose Up
-- An endpoint's payload filter, as the user wrote it (filter) and compiled to
-- an SQL/JSON path predicate (filter_path, webhooks.CompileFilter), which the
-- publish statement evaluates against each event's envelope; NULL: none.
ALTER TABLE endpoints ADD COLUMN filter jsonb, ADD COLUMN filter_path jsonpath;

-- +goose Down
ALTER TABLE endpoints DROP COLUMN filter, DROP COLUMN filter_path;
