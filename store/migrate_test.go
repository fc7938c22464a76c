package store_test

import (
	"context"
	"sync"
	"testing"

	webhooks "github.com/empfio/webhooks"
	"github.com/empfio/webhooks/internal/testenv"
	"github.com/empfio/webhooks/store"
)

func TestMigrate_FromEmptyThenIdempotent(t *testing.T) {
	ctx := context.Background()
	db, err := store.Open(ctx, testenv.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	n, err := db.Migrate(ctx)
	if err != nil || n == 0 {
		t.Fatalf("first migrate: applied %d, err %v", n, err)
	}
	var tables int
	testenv.Must(t, db.Pool().QueryRow(ctx, `SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'
		AND table_name IN ('organizations','api_keys','endpoints','events','deliveries','attempts')`).Scan(&tables))
	if tables != 6 {
		t.Fatalf("%d of 6 tables exist after migrating", tables)
	}
	if n, err := db.Migrate(ctx); err != nil || n != 0 {
		t.Fatalf("second migrate: applied %d, err %v; want 0, nil", n, err)
	}
}

func TestMigrate_ConcurrentStartsApplyOnce(t *testing.T) {
	ctx := context.Background()
	dsn := testenv.NewDatabase(t)
	const procs = 4
	applied := make([]int, procs)
	errs := make([]error, procs)
	var wg sync.WaitGroup
	for i := range procs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			db, err := store.Open(ctx, dsn)
			if err != nil {
				errs[i] = err
				return
			}
			defer db.Close()
			applied[i], errs[i] = db.Migrate(ctx)
		}()
	}
	wg.Wait()
	total := 0
	for i := range procs {
		if errs[i] != nil {
			t.Fatalf("process %d: %v", i, errs[i])
		}
		total += applied[i]
	}
	db, _ := store.Open(ctx, dsn)
	defer db.Close()
	var versions int
	testenv.Must(t, db.Pool().QueryRow(ctx, `SELECT count(*) FROM goose_db_version WHERE version_id > 0`).Scan(&versions))
	if total != versions || versions == 0 {
		t.Fatalf("applied %d migrations across processes, %d recorded; want each applied once", total, versions)
	}
}

func TestOpen_UnreachablePostgresIsUnavailable(t *testing.T) {
	db, err := store.Open(context.Background(), "postgres://postgres@127.0.0.1:1/none?connect_timeout=1")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Ping(context.Background()); webhooks.ErrorCode(err) != webhooks.EUNAVAILABLE {
		t.Fatalf("ping of a closed port = %v, want EUNAVAILABLE", err)
	}
}
