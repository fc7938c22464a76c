package store_test

import (
	"context"
	"testing"
	"time"

	webhooks "github.com/empfio/webhooks"
	"github.com/empfio/webhooks/internal/testing/testenv"
	"github.com/empfio/webhooks/store"
)

// A delivery's way through the hot path — published, taken, its first attempt
// a success — writes few index entries, and both updates of its row (the take's
// lease and the record) are HOT: nothing indexed changes and the day
// partitions leave room on each page (fillfactor 70). Round 2's schema wrote
// eleven entries per delivery, three of them because the record's update could
// not be HOT. Now: seven, none of them from an update.
func TestHotPath_FewIndexEntriesAndHOTUpdates(t *testing.T) {
	ctx := context.Background()
	_, dsn := testenv.DB(t)
	w, err := store.Open(ctx, dsn) // its own pool: closing it flushes its backends' statistics
	testenv.Must(t, err)
	org := testenv.SubscribedOrg(t, w, "Index entries")
	const n = 200
	for range n {
		_, ds := testenv.PublishLead(t, w, org, time.Now())
		taken := take(t, w, ds[0])
		_, err := w.RecordAttempt(ctx, ds[0].CreatedAt, taken.Lease, webhooks.AttemptRecord{DeliveryID: ds[0].ID,
			Status: webhooks.StatusSucceeded, Attempt: webhooks.Attempt{StartedAt: time.Now()}})
		testenv.Must(t, err)
	}
	w.Close()

	db, err := store.Open(ctx, dsn)
	testenv.Must(t, err)
	defer db.Close()
	type table struct{ ins, upd, hot, indexes int64 }
	var tables map[string]table
	// Statistics reach pg_stat_user_tables as the backends exit.
	testenv.Eventually(t, 15*time.Second, "the workload's statistics", func() bool {
		rows, err := db.Pool().Query(ctx, `SELECT p.relname, sum(s.n_tup_ins), sum(s.n_tup_upd), sum(s.n_tup_hot_upd),
				(SELECT count(*) FROM pg_index i JOIN pg_class x ON x.oid = i.indexrelid JOIN pg_am a ON a.oid = x.relam
					WHERE i.indrelid = p.oid AND a.amname <> 'brin')
			FROM pg_stat_user_tables s JOIN pg_inherits h ON h.inhrelid = s.relid JOIN pg_class p ON p.oid = h.inhparent
			WHERE p.relname IN ('events', 'deliveries', 'attempts') GROUP BY p.oid, p.relname
			UNION ALL
			SELECT s.relname, s.n_tup_ins, s.n_tup_upd, s.n_tup_hot_upd,
				(SELECT count(*) FROM pg_index i WHERE i.indrelid = s.relid AND i.indpred IS NULL)
			FROM pg_stat_user_tables s WHERE s.relname = 'open_deliveries'`)
		testenv.Must(t, err)
		tables = map[string]table{}
		for rows.Next() {
			var name string
			var tb table
			testenv.Must(t, rows.Scan(&name, &tb.ins, &tb.upd, &tb.hot, &tb.indexes))
			tables[name] = tb
		}
		testenv.Must(t, rows.Err())
		return tables["deliveries"].upd >= 2*n && tables["attempts"].ins >= n
	})
	var entries int64
	for name, tb := range tables {
		e := (tb.ins + tb.upd - tb.hot) * tb.indexes
		entries += e
		t.Logf("%-16s inserts %4d, updates %4d (HOT %4d), %d indexes (BRIN not counted): %.2f entries per delivery",
			name, tb.ins, tb.upd, tb.hot, tb.indexes, float64(e)/n)
	}
	perDelivery := float64(entries) / n
	t.Logf("index entries per delivery: %.2f", perDelivery)
	if d := tables["deliveries"]; d.hot < d.upd*9/10 {
		t.Errorf("%d of %d updates of deliveries were HOT: the take or the record changes an indexed column, or pages are full", d.hot, d.upd)
	}
	// events_dedup_idx is partial (events with a dedup key, as the agent's
	// have): counted here though these events have none, so 7 is the figure of
	// an agent event's delivery. open_deliveries_ordered_idx, partial too,
	// holds ordered deliveries only: an unordered one writes nothing to it.
	if perDelivery > 7 {
		t.Errorf("%.2f index entries per delivery: an index was added on the hot path", perDelivery)
	}
}
