package store

import (
	"context"
	"time"

	webhooks "github.com/empfio/webhooks"
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

// TakeTogether takes deliveries in one group, as concurrent Takes that meet
// in a group do.
func (db *DB) TakeTogether(ctx context.Context, deliveries ...webhooks.Delivery) ([]*Taken, error) {
	reqs := make([]takeRequest, len(deliveries))
	for i, d := range deliveries {
		reqs[i] = takeRequest{id: d.ID, createdAt: d.CreatedAt, lease: time.Minute, envelope: true}
	}
	return db.takeGroup(ctx, reqs)
}

// ExplainTake returns the plan of taking deliveries in one group, run
// (EXPLAIN ANALYZE, in JSON), and of recording an attempt of each: the
// statements as the hot path sends them.
func (db *DB) ExplainTake(ctx context.Context, deliveries ...webhooks.Delivery) (take, record string, err error) {
	reqs := make([]takeRequest, len(deliveries))
	recs := make([]recordRequest, len(deliveries))
	for i, d := range deliveries {
		reqs[i] = takeRequest{id: d.ID, createdAt: d.CreatedAt, lease: time.Minute, envelope: true}
		recs[i] = recordRequest{AttemptRecord: webhooks.AttemptRecord{DeliveryID: d.ID, Status: webhooks.StatusSucceeded},
			createdAt: d.CreatedAt}
	}
	_, args := takeArgs(reqs)
	if err := db.pool.QueryRow(ctx, "EXPLAIN (ANALYZE, FORMAT JSON) "+takeSQL, args...).Scan(&take); err != nil {
		return "", "", err
	}
	err = db.pool.QueryRow(ctx, "EXPLAIN (ANALYZE, FORMAT JSON) "+recordsSQL, recordArgs(recs)...).Scan(&record)
	return take, record, err
}
