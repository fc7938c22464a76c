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
)

// BenchmarkHotPath publishes an event to 30 endpoints, takes its 30
// deliveries in one group and records their 30 successful attempts in
// another: the three statements of the hot path, at the group size of a busy
// worker. Postgres's CPU is what every Postgres process on the machine spent
// meanwhile (run it on a quiet one). It runs with the week of partitions a
// new installation has and with the 38 days a month of retention keeps
// (bench/RESULTS.md, "Partitions kept and the hot path").
//
//	go test -run '^$' -bench HotPath -benchtime 300x ./store
func BenchmarkHotPath(b *testing.B) {
	for _, days := range []int{0, 30} {
		b.Run(fmt.Sprintf("days_kept=%d", days), func(b *testing.B) {
			ctx := context.Background()
			db, _ := testenv.DB(b)
			if days > 0 {
				_, err := db.MakePartitions(ctx, time.Now().AddDate(0, 0, -days), time.Now())
				testenv.Must(b, err)
			}
			org := subscribedOrg(b, db, "Hot path")
			for i := 1; i < 30; i++ {
				testenv.Must(b, db.CreateEndpoint(ctx, &webhooks.Endpoint{OrganizationID: org,
					URL: fmt.Sprintf("https://hooks.example.com/%d", i), Events: []string{"*"}}))
			}
			b.ResetTimer()
			before := proccpu.ByName()["postgres"]
			for range b.N {
				hotPath(b, db, org)
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*30), "µs/delivery")
			b.ReportMetric(float64((proccpu.ByName()["postgres"]-before).Microseconds())/float64(b.N*30), "pg-cpu-µs/delivery")
		})
	}
}

func hotPath(b *testing.B, db *store.DB, org string) {
	ctx := context.Background()
	id, received := webhooks.EventIDAt(time.Now())
	ev := &webhooks.Event{ID: id, OrganizationID: org, Type: webhooks.LeadCreated, Source: webhooks.SourceAPI,
		Data: []byte(`{}`), OccurredAt: received, ReceivedAt: received}
	testenv.Must(b, ev.RenderEnvelope())
	ds, err := db.Publish(ctx, ev)
	testenv.Must(b, err)
	taken, err := db.TakeTogether(ctx, ds...)
	testenv.Must(b, err)
	var wg sync.WaitGroup
	for i, t := range taken {
		if t == nil {
			b.Fatalf("delivery %s not taken", ds[i].ID)
		}
		wg.Go(func() {
			_, err := db.RecordAttempt(ctx, t.Delivery.CreatedAt, t.Lease, webhooks.AttemptRecord{DeliveryID: t.Delivery.ID,
				Status: webhooks.StatusSucceeded, Attempt: webhooks.Attempt{StartedAt: received}})
			if err != nil {
				b.Error(err)
			}
		})
	}
	wg.Wait()
}
