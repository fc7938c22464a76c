package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	webhooks "github.com/empfio/webhooks"
	"github.com/empfio/webhooks/internal/testing/testenv"
)

// BenchmarkPublish_Filters: what payload filters cost the ingest — events
// published (64 at a time, as the api's group commit sends them) to an
// organization with no endpoint, with 100 endpoints subscribed to another
// type (the cost of looking at endpoints at all), with 100 whose filters all
// say no, and with 100 whose filters let each event through to exactly one. ns/op is
// one event; events/s is the rate.
func BenchmarkPublish_Filters(b *testing.B) {
	for _, c := range []struct {
		name      string
		endpoints int
		match     bool
		other     bool // subscribed to another type, no filter
	}{{"none", 0, false, false}, {"100-other-type", 100, false, true}, {"100-filtered-out", 100, false, false}, {"100-filters-one-passes", 100, true, false}} {
		b.Run(c.name, func(b *testing.B) {
			db, _ := testenv.DB(b)
			ctx := context.Background()
			org, _, err := db.CreateOrganization(ctx, "Filters")
			testenv.Must(b, err)
			for i := range c.endpoints {
				f := fmt.Sprintf(`{"data.channel":"web","data.id":"lead-%d"}`, i)
				if !c.match {
					f = `{"data.channel":"fax"}`
				}
				e := &webhooks.Endpoint{OrganizationID: org.ID, URL: fmt.Sprintf("https://hooks.example.com/%d", i),
					Events: []string{"lead.*"}, Filter: webhooks.Filter(f)}
				if c.other {
					e.Events, e.Filter = []string{"booking.*"}, nil
				}
				testenv.Must(b, db.CreateEndpoint(ctx, e))
			}
			b.SetParallelism(32) // 32 × GOMAXPROCS publishers, as many concurrent requests
			b.ResetTimer()
			start := time.Now()
			var n int
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					i++
					id, at := webhooks.NewEventID()
					ev := &webhooks.Event{ID: id, OrganizationID: org.ID, Type: webhooks.LeadCreated, Source: webhooks.SourceAPI,
						Data: []byte(fmt.Sprintf(`{"id":"lead-%d","channel":"web","score":0.5}`, i%100)), OccurredAt: at, ReceivedAt: at}
					if err := ev.RenderEnvelope(); err != nil {
						b.Error(err)
						return
					}
					if _, err := db.Publish(ctx, ev); err != nil {
						b.Error(err)
						return
					}
				}
			})
			n = b.N
			b.ReportMetric(float64(n)/time.Since(start).Seconds(), "events/s")
		})
	}
}
