package store

import (
	"context"

	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
)

// MigrateTo applies the migrations up to version v only: a database as an
// older release left it, for the tests of the migrations after.
func (db *DB) MigrateTo(ctx context.Context, v int64) error {
	fsys, err := migrationsFS()
	if err != nil {
		return err
	}
	p, err := goose.NewProvider(goose.DialectPostgres, stdlib.OpenDBFromPool(db.pool), fsys)
	if err != nil {
		return err
	}
	_, err = p.UpTo(ctx, v)
	return err
}
