package jobs_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	webhooks "github.com/empfio/webhooks"
	"github.com/empfio/webhooks/internal/testing/apptest"
	"github.com/empfio/webhooks/internal/testing/testenv"
	"github.com/empfio/webhooks/jobs"
	"github.com/google/uuid"
	"github.com/hibiken/asynq"
)

// Worker concurrency and concurrent publishers of the benchmarks.
const (
	benchConcurrency = 50
	benchPublishers  = 8
)

// BenchmarkAsynqNoop is the baseline: asynq enqueueing and running tasks whose
// handler does nothing, with the worker settings deliveries use.
func BenchmarkAsynqNoop(b *testing.B) {
	rdb, _ := testenv.Redis(b)
	var done atomic.Int64
	srv := asynq.NewServerFromRedisClient(rdb, asynq.Config{Concurrency: benchConcurrency, Queues: map[string]int{"noop": 1},
		TaskCheckInterval: jobs.DefaultPollInterval, LogLevel: asynq.ErrorLevel})
	mux := asynq.NewServeMux()
	mux.HandleFunc("noop", func(context.Context, *asynq.Task) error { done.Add(1); return nil })
	if err := srv.Start(mux); err != nil {
		b.Fatal(err)
	}
	defer srv.Shutdown()
	client := asynq.NewClientFromRedisClient(rdb)
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		payload, _ := json.Marshal(map[string]string{"delivery_id": uuid.NewString()})
		if _, err := client.Enqueue(asynq.NewTask("noop", payload), asynq.Queue("noop"), asynq.TaskID(uuid.NewString())); err != nil {
			b.Fatal(err)
		}
	}
	testenv.Eventually(b, 5*time.Minute, "every no-op task ran", func() bool { return done.Load() == int64(b.N) })
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "tasks/s")
}

// BenchmarkDeliveryEndToEnd publishes b.N events (Postgres transaction + enqueue)
// to one endpoint and waits until a local receiver got every signed delivery and
// every attempt is recorded.
func BenchmarkDeliveryEndToEnd(b *testing.B) {
	a := apptest.Start(b, apptest.Options{Worker: true, Concurrency: benchConcurrency})
	orgID, key := a.Org(b, "Bench")
	recv := apptest.NewReceiver(b, apptest.Status(204))
	hookID, _ := a.Webhook(b, key, recv.URL, "*")
	pub := &jobs.Publisher{DB: a.DB, Queue: a.Queue, Log: a.Log}
	data := json.RawMessage(`{"id":"7d444840-9dc0-11d1-b245-5ffdce74fad2","name":"Jonas Weber","channel":"whatsapp","status":"new"}`)
	b.ResetTimer()
	start := time.Now()
	// Publishers run concurrently, as API requests do.
	var next atomic.Int64
	var wg sync.WaitGroup
	for range benchPublishers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := next.Add(1); i <= int64(b.N); i = next.Add(1) {
				ev := &webhooks.Event{ID: uuid.NewString(), OrganizationID: orgID, Type: webhooks.LeadCreated, Source: webhooks.SourceAPI,
					Data: data, OccurredAt: time.Now(), ReceivedAt: time.Now()}
				if _, err := pub.Publish(context.Background(), ev); err != nil {
					b.Error(fmt.Errorf("publish %d: %w", i, err))
					return
				}
			}
		}()
	}
	wg.Wait()
	published := time.Since(start)
	testenv.Eventually(b, 5*time.Minute, "every delivery succeeded", func() bool {
		var n int
		testenv.Must(b, a.DB.Pool().QueryRow(context.Background(), `SELECT count(*) FROM deliveries WHERE endpoint_id = $1 AND status = 'succeeded'`, hookID).Scan(&n))
		return n == b.N
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "deliveries/s")
	b.ReportMetric(float64(b.N)/published.Seconds(), "published/s")
}

// BenchmarkDeliveryLatency publishes one event at a time to an idle worker with
// the production poll interval and waits for the receiver: the time from publish
// to a delivered webhook.
func BenchmarkDeliveryLatency(b *testing.B) {
	a := apptest.Start(b, apptest.Options{Worker: true, PollInterval: jobs.DefaultPollInterval})
	orgID, key := a.Org(b, "Latency")
	got := make(chan struct{}, 1)
	recv := apptest.NewReceiver(b, func(_ int, w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Empfio-Event") == webhooks.LeadCreated {
			got <- struct{}{}
		}
	})
	a.Webhook(b, key, recv.URL, "*")
	pub := &jobs.Publisher{DB: a.DB, Queue: a.Queue, Log: a.Log}
	data := json.RawMessage(`{"id":"7d444840-9dc0-11d1-b245-5ffdce74fad2","channel":"whatsapp"}`)
	b.ResetTimer()
	for range b.N {
		ev := &webhooks.Event{ID: uuid.NewString(), OrganizationID: orgID, Type: webhooks.LeadCreated, Source: webhooks.SourceAPI,
			Data: data, OccurredAt: time.Now(), ReceivedAt: time.Now()}
		if _, err := pub.Publish(context.Background(), ev); err != nil {
			b.Fatal(err)
		}
		select {
		case <-got:
		case <-time.After(10 * time.Second):
			b.Fatal("no delivery within 10 s")
		}
	}
}
