package store_test

import (
	"context"
	"flag"
	"testing"
	"time"

	"github.com/empfio/webhooks/internal/testing/testenv"
	"github.com/empfio/webhooks/store"
)

var retentionRows = flag.Int("retention-rows", 1_000_000, "deliveries of the day BenchmarkRetention drops")

// fillDay stores n events of day d, one delivery each (succeeded) and one
// attempt each, straight into the day's partitions.
func fillDay(b *testing.B, db *store.DB, org, endpoint string, d time.Time, n int) {
	b.Helper()
	ctx := context.Background()
	_, err := db.MakePartitions(ctx, d, d)
	testenv.Must(b, err)
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO events (id, created_at, organization_id, type, source, occurred_at, envelope)
			SELECT empfio_uuidv7(t), t, $1, 'lead.created', 'api', t, '{"id":"x","event":"lead.created","data":{"id":"l"}}'
			FROM (SELECT $2::timestamptz + make_interval(secs => i * 86000.0 / $3) AS t FROM generate_series(1, $3) i) s`,
			[]any{org, d, n}},
		{`INSERT INTO deliveries (id, created_at, organization_id, event_id, endpoint_id, event_type, status, attempts, updated_at, completed_at)
			SELECT empfio_uuidv7(e.created_at), e.created_at, $1, e.id, $3, e.type, 'succeeded', 1, e.created_at, e.created_at
			FROM events e WHERE e.created_at >= $2 AND e.created_at < $2::timestamptz + interval '1 day'`,
			[]any{org, d, endpoint}},
		{`INSERT INTO attempts (delivery_id, delivery_created_at, number, started_at, duration_ms, status_code)
			SELECT d.id, d.created_at, 1, d.created_at, 12, 200
			FROM deliveries d WHERE d.created_at >= $1 AND d.created_at < $1::timestamptz + interval '1 day'`,
			[]any{d}},
	} {
		_, err := db.Pool().Exec(ctx, q.sql, q.args...)
		testenv.Must(b, err)
	}
	_, err = db.Pool().Exec(ctx, `VACUUM ANALYZE events, deliveries, attempts`)
	testenv.Must(b, err)
}

// BenchmarkRetention: what retention does to a day of -retention-rows
// deliveries (and their events and attempts) — drop: the day's partitions
// dropped (round 3); delete: the same rows deleted (how it was done before:
// row by row, leaving dead tuples for vacuum). ns/op is one day's retention.
func BenchmarkRetention(b *testing.B) {
	db, _ := testenv.DB(b)
	ctx := context.Background()
	org := testenv.SubscribedOrg(b, db, "Retention")
	endpoint := endpointOf(b, db, org)
	day := time.Now().UTC().AddDate(0, 0, -40).Truncate(24 * time.Hour)
	b.Run("drop", func(b *testing.B) {
		for i := range b.N {
			b.StopTimer()
			d := day.AddDate(0, 0, -i)
			fillDay(b, db, org, endpoint, d, *retentionRows)
			b.StartTimer()
			dropped, err := db.DropPartition(ctx, d)
			if err != nil || !dropped {
				b.Fatalf("dropped %v, %v", dropped, err)
			}
		}
	})
	b.Run("delete", func(b *testing.B) {
		for i := range b.N {
			b.StopTimer()
			d := day.AddDate(0, 0, -100-i)
			fillDay(b, db, org, endpoint, d, *retentionRows)
			b.StartTimer()
			for _, t := range []string{"attempts", "deliveries", "events"} {
				col := "created_at"
				if t == "attempts" {
					col = "delivery_created_at"
				}
				_, err := db.Pool().Exec(ctx, `DELETE FROM `+t+` WHERE `+col+` >= $1 AND `+col+` < $1::timestamptz + interval '1 day'`, d)
				testenv.Must(b, err)
			}
			b.StopTimer()
			var dead int64
			testenv.Must(b, db.Pool().QueryRow(ctx, `SELECT coalesce(sum(n_dead_tup), 0) FROM pg_stat_user_tables
				WHERE relname LIKE '%_p`+d.Format("20060102")+`'`).Scan(&dead))
			b.ReportMetric(float64(dead), "dead_tuples_left")
			b.StartTimer()
		}
	})
}
