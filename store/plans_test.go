package store_test

import (
	"context"
	"maps"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	webhooks "github.com/empfio/webhooks"
	"github.com/empfio/webhooks/internal/testing/testenv"
	"github.com/empfio/webhooks/store"
	"github.com/jackc/pgx/v5"
)

// The hot path's statements are planned once per connection, however small
// their groups: lone deliveries published, taken and recorded one at a time
// (as below full load) run on generic plans. Postgres's default plan cache
// made a custom plan for each of the first five runs of a statement, and kept
// doing so while groups stayed small.
func TestOpen_TheHotPathIsPlannedOncePerConnection(t *testing.T) {
	ctx := context.Background()
	_, dsn := testenv.DB(t)
	u, err := url.Parse(dsn)
	testenv.Must(t, err)
	q := u.Query()
	q.Set("pool_max_conns", "1") // one session: pg_prepared_statements is per session
	u.RawQuery = q.Encode()
	db, err := store.Open(ctx, u.String())
	testenv.Must(t, err)
	defer db.Close()

	org := testenv.SubscribedOrg(t, db, "Planned once")
	for range 8 {
		_, ds := testenv.PublishLead(t, db, org, time.Now())
		taken, err := db.Take(ctx, ds[0].ID, ds[0].CreatedAt, time.Minute, true)
		testenv.Must(t, err)
		if taken == nil {
			t.Fatalf("delivery %s not taken", ds[0].ID)
		}
		_, err = db.RecordAttempt(ctx, taken.Delivery.CreatedAt, taken.Lease, webhooks.AttemptRecord{DeliveryID: ds[0].ID,
			Status: webhooks.StatusSucceeded, Attempt: webhooks.Attempt{StartedAt: time.Now()}})
		testenv.Must(t, err)
	}

	rows, err := db.Pool().Query(ctx, `SELECT left(regexp_replace(statement, '\s+', ' ', 'g'), 60), generic_plans, custom_plans
		FROM pg_prepared_statements
		WHERE (statement LIKE 'WITH input AS%' OR statement LIKE '%UPDATE deliveries d SET lease_until%'
			OR statement LIKE '%INSERT INTO attempts%') AND statement NOT LIKE '%pg_prepared_statements%'`)
	testenv.Must(t, err)
	type plans struct {
		Statement       string
		Generic, Custom int64
	}
	list, err := pgx.CollectRows(rows, pgx.RowToStructByPos[plans])
	testenv.Must(t, err)
	if len(list) != 3 {
		t.Fatalf("want the publish, the take and the record among the session's statements, got %d: %+v", len(list), list)
	}
	for _, p := range list {
		if p.Custom != 0 || p.Generic != 8 {
			t.Errorf("%q: %d generic and %d custom plans in 8 runs, want 8 generic", p.Statement, p.Generic, p.Custom)
		}
	}
}

// No statement of the service is compiled with LLVM: with sequential scans
// refused, one that cannot be avoided is priced far over jit_above_cost, and
// Postgres compiled it at every run (tens of milliseconds, for an empty
// table).
func TestOpen_NoStatementIsCompiled(t *testing.T) {
	ctx := context.Background()
	db, _ := testenv.DB(t)
	testenv.SubscribedOrg(t, db, "Not compiled")
	var plan string
	testenv.Must(t, db.Pool().QueryRow(ctx, `EXPLAIN (ANALYZE, FORMAT JSON) SELECT * FROM endpoints WHERE enabled`).Scan(&plan))
	if !strings.Contains(plan, `"Seq Scan"`) || !strings.Contains(plan, `"Total Cost": 1000000`) {
		t.Fatalf("want a sequential scan priced at 10^10 (enable_seqscan off), got %s", plan)
	}
	if strings.Contains(plan, `"JIT"`) {
		t.Errorf("the statement was compiled: %s", plan)
	}
}

// The take and the record name their group's days as bounds on the partition
// key, so that only those days' partitions are opened: on a generic plan,
// where the rows come from arrays, a month of retention was otherwise opened
// for every lone delivery (bench/RESULTS.md, "Planned once").
func TestTakeAndRecord_OpenOnlyTheirDaysPartitions(t *testing.T) {
	ctx := context.Background()
	db, _ := testenv.DB(t)
	_, err := db.MakePartitions(ctx, time.Now().AddDate(0, 0, -30), time.Now())
	testenv.Must(t, err)
	org := testenv.SubscribedOrg(t, db, "Pruned")
	_, ds := testenv.PublishLead(t, db, org, time.Now())
	take, record, err := db.ExplainTake(ctx, ds...)
	testenv.Must(t, err)
	day := ds[0].CreatedAt.UTC().Format("20060102")
	for _, c := range []struct {
		name, plan string
		want       []string
	}{
		{"take", take, []string{"deliveries_p" + day, "events_p" + day}},
		{"record", record, []string{"deliveries_p" + day}},
	} {
		opened := map[string]bool{}
		for _, m := range regexp.MustCompile(`"Relation Name": "((?:deliveries|events)_(?:p\d{8}|default))"`).FindAllStringSubmatch(c.plan, -1) {
			opened[m[1]] = true
		}
		if got := slices.Sorted(maps.Keys(opened)); !slices.Equal(got, c.want) {
			t.Errorf("%s opened the partitions %v, want %v only", c.name, got, c.want)
		}
	}
}
