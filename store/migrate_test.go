package store_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	webhooks "github.com/empfio/webhooks"
	"github.com/empfio/webhooks/internal/testing/apptest"
	"github.com/empfio/webhooks/internal/testing/testenv"
	"github.com/empfio/webhooks/store"
	"github.com/google/uuid"
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

// An installation of round 2 — events, deliveries and attempts in plain tables
// with foreign keys — comes out of migration 00009 partitioned by day, with
// every event, delivery and attempt readable through the API, the open
// deliveries open (and delivered), and a Cal.com booking still known.
func TestMigrate_ConvertsAnExistingInstallation(t *testing.T) {
	ctx := context.Background()
	dsn := testenv.NewDatabase(t)
	old, err := store.Open(ctx, dsn)
	testenv.Must(t, err)
	testenv.Must(t, old.MigrateTo(ctx, 8))
	org, key, err := old.CreateOrganization(ctx, "Before")
	testenv.Must(t, err)
	recv := apptest.NewReceiver(t, apptest.Status(200))
	// The endpoint as round 2 stored it (today's code writes columns added since).
	hook := &webhooks.Endpoint{ID: uuid.NewString(), OrganizationID: org.ID, URL: recv.URL, Events: []string{"*"}}
	_, err = old.Pool().Exec(ctx, `INSERT INTO endpoints (id, organization_id, url, description, events, secret)
		VALUES ($1, $2, $3, '', $4, $5)`, hook.ID, hook.OrganizationID, hook.URL, hook.Events, webhooks.NewSecret())
	testenv.Must(t, err)
	// Two events three days apart, a Cal.com one among them; a delivery that
	// succeeded on its second attempt, one retrying (due), one held.
	for _, stmt := range []string{`
		INSERT INTO events (id, organization_id, type, source, occurred_at, created_at, envelope, dedup_key) VALUES
			('11111111-1111-4111-8111-111111111111', $1, 'lead.created', 'agent', now() - interval '3 days', now() - interval '3 days',
				'{"id":"11111111-1111-4111-8111-111111111111","event":"lead.created","data":{"id":"l1"}}', 'agent:x'),
			('22222222-2222-4222-8222-222222222222', $1, 'booking.created', 'calcom', now(), now(),
				'{"id":"22222222-2222-4222-8222-222222222222","event":"booking.created","data":{"id":"b1"}}', 'calcom:k1')`, `
		INSERT INTO deliveries (id, organization_id, event_id, endpoint_id, event_type, status, attempts, next_attempt_at, created_at, updated_at, completed_at) VALUES
			('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', $1, '11111111-1111-4111-8111-111111111111', $2, 'lead.created', 'succeeded', 2, NULL,
				now() - interval '3 days', now() - interval '3 days', now() - interval '3 days'),
			('bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb', $1, '22222222-2222-4222-8222-222222222222', $2, 'booking.created', 'retrying', 1,
				now() - interval '5 minutes', now(), now(), NULL),
			('cccccccc-cccc-4ccc-8ccc-cccccccccccc', $1, '11111111-1111-4111-8111-111111111111', $2, 'lead.created', 'held', 3, NULL,
				now() - interval '3 days', now(), NULL)`, `
		INSERT INTO attempts (delivery_id, number, started_at, duration_ms, status_code, error) VALUES
			('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', 1, now() - interval '3 days', 12, 503, 'HTTP 503'),
			('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', 2, now() - interval '3 days', 9, 200, NULL),
			('bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb', 1, now(), 10, 500, 'HTTP 500')`} {
		args := []any{org.ID, hook.ID}
		if !strings.Contains(stmt, "$2") {
			args = args[:1]
		}
		if strings.Contains(stmt, "INSERT INTO attempts") {
			args = nil
		}
		_, err := old.Pool().Exec(ctx, stmt, args...)
		testenv.Must(t, err)
	}
	old.Close()

	a := apptest.Start(t, apptest.Options{Database: dsn, SweepGrace: time.Second})
	var kinds []string
	testenv.Must(t, a.DB.Pool().QueryRow(ctx, `SELECT array_agg(c.relname::text ORDER BY c.relname) FROM pg_inherits i
		JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'deliveries'::regclass`).Scan(&kinds))
	if len(kinds) < 9 { // the default, the two days of data, the week ahead
		t.Fatalf("deliveries' partitions after the migration: %v", kinds)
	}
	var events struct{ Data []webhooks.Event }
	a.Do(t, "GET", "/api/v1/events", key.Key, nil).JSON(t, &events)
	if len(events.Data) != 2 {
		t.Fatalf("%d events through the API, want 2", len(events.Data))
	}
	var d webhooks.Delivery
	a.Do(t, "GET", "/api/v1/deliveries/aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa", key.Key, nil).JSON(t, &d)
	if d.Status != webhooks.StatusSucceeded || len(d.AttemptLog) != 2 || *d.AttemptLog[0].StatusCode != 503 {
		t.Fatalf("the succeeded delivery: %+v", d)
	}
	var ev webhooks.Event
	a.Do(t, "GET", "/api/v1/events/11111111-1111-4111-8111-111111111111", key.Key, nil).JSON(t, &ev)
	if len(ev.Deliveries) != 2 {
		t.Fatalf("the lead event went to %d deliveries, want 2", len(ev.Deliveries))
	}
	var log struct{ Data []webhooks.Delivery }
	a.Do(t, "GET", "/api/v1/webhooks/"+hook.ID+"/deliveries", key.Key, nil).JSON(t, &log)
	if len(log.Data) != 3 {
		t.Fatalf("the delivery log shows %d, want 3", len(log.Data))
	}
	var open int
	testenv.Must(t, a.DB.Pool().QueryRow(ctx, `SELECT count(*) FROM open_deliveries`).Scan(&open))
	if open != 2 {
		t.Fatalf("%d open deliveries, want the retrying and the held one", open)
	}
	// The retrying delivery (an id of before) is delivered by the sweeper's task.
	a.StartWorker(t, 2*time.Second)
	testenv.Eventually(t, 15*time.Second, "the retrying delivery is delivered", func() bool {
		return len(recv.Of(webhooks.BookingCreated)) == 1
	})
	if _, found, err := a.DB.BookingEvent(ctx, org.ID, "calcom:k1"); err != nil || !found {
		t.Fatalf("the Cal.com booking is not known after the migration: %v", err)
	}
}
