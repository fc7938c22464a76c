package store_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	webhooks "github.com/empfio/webhooks"
	"github.com/empfio/webhooks/internal/testing/proccpu"
	"github.com/empfio/webhooks/internal/testing/testenv"
	"github.com/empfio/webhooks/store"
	"github.com/jackc/pgx/v5"
)

// BenchmarkHotPath publishes an event to 30 endpoints, takes its 30
// deliveries in one group and records their 30 successful attempts in
// another: the three statements of the hot path, at the group size of a busy
// worker (fanout=30); and the same for an event to one endpoint, each
// statement alone, as below full load (fanout=1). Postgres's CPU is what the
// backends serving the benchmark's database spent (not the checkpointer's,
// nor other databases'). It runs with the week of partitions a new
// installation has and with the 38 days a month of retention keeps
// (bench/RESULTS.md, "Partitions kept and the hot path", "Planned once").
//
//	go test -run '^$' -bench HotPath -benchtime 300x ./store
func BenchmarkHotPath(b *testing.B) {
	for _, fanout := range []int{30, 1} {
		for _, days := range []int{0, 30} {
			b.Run(fmt.Sprintf("fanout=%d/days_kept=%d", fanout, days), func(b *testing.B) { benchmarkHotPath(b, fanout, days) })
		}
	}
}

func benchmarkHotPath(b *testing.B, fanout, days int) {
	ctx := context.Background()
	db, _ := testenv.DB(b)
	if days > 0 {
		_, err := db.MakePartitions(ctx, time.Now().AddDate(0, 0, -days), time.Now())
		testenv.Must(b, err)
	}
	org := testenv.SubscribedOrg(b, db, "Hot path")
	for i := 1; i < fanout; i++ {
		testenv.Must(b, db.CreateEndpoint(ctx, &webhooks.Endpoint{OrganizationID: org,
			URL: fmt.Sprintf("https://hooks.example.com/%d", i), Events: []string{"*"}}))
	}
	for range 10 { // connections opened, statements prepared
		hotPath(b, db, org)
	}
	before := backendsCPU(b, db)
	b.ResetTimer()
	for range b.N {
		hotPath(b, db, org)
	}
	b.StopTimer()
	var spent time.Duration
	for pid, cpu := range backendsCPU(b, db) {
		spent += cpu - before[pid]
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*fanout), "µs/delivery")
	b.ReportMetric(float64(spent.Microseconds())/float64(b.N*fanout), "pg-cpu-µs/delivery")
}

func hotPath(b *testing.B, db *store.DB, org string) {
	ctx := context.Background()
	ev, ds := testenv.PublishLead(b, db, org, time.Now())
	taken, err := db.TakeTogether(ctx, ds...)
	testenv.Must(b, err)
	var wg sync.WaitGroup
	for i, t := range taken {
		if t == nil {
			b.Fatalf("delivery %s not taken", ds[i].ID)
		}
		wg.Go(func() {
			_, err := db.RecordAttempt(ctx, t.Delivery.CreatedAt, t.Lease, webhooks.AttemptRecord{DeliveryID: t.Delivery.ID,
				Status: webhooks.StatusSucceeded, Attempt: webhooks.Attempt{StartedAt: ev.ReceivedAt}})
			if err != nil {
				b.Error(err)
			}
		})
	}
	wg.Wait()
}

// backendsCPU returns the CPU time each backend serving db's database has
// spent, by process id.
func backendsCPU(b *testing.B, db *store.DB) map[int]time.Duration {
	rows, err := db.Pool().Query(context.Background(), `SELECT pid FROM pg_stat_activity WHERE datname = current_database()`)
	testenv.Must(b, err)
	pids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	testenv.Must(b, err)
	out := make(map[int]time.Duration, len(pids))
	for _, pid := range pids {
		out[int(pid)] = proccpu.OfPID(int(pid))
	}
	return out
}
