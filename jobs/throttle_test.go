package jobs_test

import (
	"context"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	webhooks "github.com/empfio/webhooks"
	"github.com/empfio/webhooks/internal/testing/apptest"
	"github.com/empfio/webhooks/internal/testing/testenv"
	"github.com/empfio/webhooks/jobs"
	"github.com/redis/go-redis/v9"
)

// A receiver that hangs until the sender gives up never sees more requests at
// once than the cap, and the nine healthy endpoints beside it get all their
// deliveries while it still has a backlog.
func TestThrottle_AHangingReceiverCannotStarveTheOthers(t *testing.T) {
	const limit = 3
	a := apptest.Start(t, apptest.Options{Worker: true, Timeout: time.Second, MaxInFlight: limit, Concurrency: 10,
		Schedule: webhooks.RetrySchedule{MaxRetries: 0, Window: time.Second}})
	orgID, key := a.Org(t, "Fair")
	var now, peak atomic.Int64
	hanging := apptest.NewReceiver(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Empfio-Event") == webhooks.WebhookPing {
			return
		}
		n := now.Add(1)
		defer now.Add(-1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		<-r.Context().Done() // until the sender's timeout
	})
	hangID, _ := a.Webhook(t, key, hanging.URL, "booking.requested")
	healthy := apptest.NewReceiver(t, apptest.Status(200))
	for range 9 {
		a.Webhook(t, key, healthy.URL, "lead.created")
	}
	for i := range 60 { // at 3 a second, at least 20 s of backlog
		publish(t, a, orgID, "booking.requested", map[string]any{"lead_id": "l", "start_time": "2026-03-10T09:00:00Z", "n": i})
	}
	for i := range 5 {
		publish(t, a, orgID, "lead.created", map[string]any{"id": "l", "channel": "web", "n": i})
	}
	testenv.Eventually(t, 20*time.Second, "the healthy endpoints get all 45 deliveries", func() bool {
		return len(healthy.Of(webhooks.LeadCreated)) >= 45
	})
	backlog := 0
	for _, d := range deliveriesOf(t, a, hangID) {
		if !webhooks.IsFinalStatus(d.Status) {
			backlog++
		}
	}
	if backlog == 0 {
		t.Fatal("the hanging endpoint's deliveries were all done before the healthy ones: nothing was shown")
	}
	if p := peak.Load(); p > limit {
		t.Fatalf("the hanging receiver saw %d requests at once, cap %d", p, limit)
	}
	t.Logf("healthy done with %d of 60 hanging deliveries still waiting; the hanging receiver's peak: %d at once", backlog, peak.Load())
}

// An endpoint's rate_limit holds across the workers: arrivals are spaced so that
// no second has more than the limit. The limit holds when a delivery is let go;
// its POST may then take a little longer than its neighbour's, so two of slack
// (up to 400 ms of such jitter on a loaded machine) are allowed at the receiver.
func TestThrottle_EndpointRateLimitIsNeverExceeded(t *testing.T) {
	a := apptest.Start(t, apptest.Options{Worker: true, Concurrency: 10})
	orgID, key := a.Org(t, "Rated")
	recv := apptest.NewReceiver(t, apptest.Status(200))
	r := a.Do(t, "POST", "/api/v1/webhooks", key, map[string]any{"url": recv.URL, "events": []string{"lead.created"}, "rate_limit": map[string]int{"per_second": 5}})
	if r.Status != http.StatusCreated || r.Map(t)["rate_limit"].(map[string]any)["per_second"] != 5.0 {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	problem := a.Do(t, "POST", "/api/v1/webhooks", key, map[string]any{"url": recv.URL, "events": []string{"*"}, "rate_limit": map[string]int{"per_second": 0}})
	if problem.Status != http.StatusUnprocessableEntity {
		t.Fatalf("rate 0: %d", problem.Status)
	}
	for i := range 15 {
		publish(t, a, orgID, "lead.created", map[string]any{"id": "l", "channel": "web", "n": i})
	}
	testenv.Eventually(t, 20*time.Second, "all 15 arrive", func() bool { return len(recv.Of(webhooks.LeadCreated)) == 15 })
	var at []time.Time
	for _, q := range recv.Of(webhooks.LeadCreated) {
		at = append(at, q.At)
	}
	sort.Slice(at, func(i, j int) bool { return at[i].Before(at[j]) })
	worst := 0
	for i := range at {
		n := 0
		for j := i; j < len(at) && at[j].Sub(at[i]) < time.Second; j++ {
			n++
		}
		worst = max(worst, n)
	}
	if worst > 7 {
		t.Fatalf("%d arrivals within one second, limit 5/s", worst)
	}
	if span := at[len(at)-1].Sub(at[0]); span < 2500*time.Millisecond {
		t.Fatalf("15 deliveries at 5/s took only %s", span)
	}
	t.Logf("15 deliveries at 5/s: at most %d in any second, over %s", worst, at[len(at)-1].Sub(at[0]).Round(time.Millisecond))
}

// countCalls counts the commands a Redis client sends (n, pipelines' too) and
// its round trips (trips: a lone command or a pipeline each).
type countCalls struct{ n, trips atomic.Int64 }

func (c *countCalls) DialHook(next redis.DialHook) redis.DialHook { return next }
func (c *countCalls) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		c.n.Add(1)
		c.trips.Add(1)
		return next(ctx, cmd)
	}
}
func (c *countCalls) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		c.n.Add(int64(len(cmds)))
		c.trips.Add(1)
		return next(ctx, cmds)
	}
}

// deliverFor runs deliveries to endpoint e for d on goroutines goroutines per
// worker, each holding its slot for a millisecond; it returns how many went, how
// many were put back and the most in flight at once.
func deliverFor(t *testing.T, workers []*jobs.Throttle, e *webhooks.Endpoint, goroutines int, d time.Duration) (went, putBack, peak int64) {
	var inFlight, top, done, back atomic.Int64
	var wg sync.WaitGroup
	end := time.Now().Add(d)
	for _, th := range workers {
		for range goroutines {
			wg.Go(func() {
				for time.Now().Before(end) {
					release, throttled, err := th.Acquire(context.Background(), e)
					if err != nil {
						t.Error(err)
						return
					}
					if throttled != nil {
						back.Add(1)
						continue
					}
					n := inFlight.Add(1)
					for p := top.Load(); n > p && !top.CompareAndSwap(p, n); p = top.Load() {
					}
					time.Sleep(time.Millisecond) // the receiver's answer
					inFlight.Add(-1)
					done.Add(1)
					release()
				}
			})
		}
	}
	wg.Wait()
	return done.Load(), back.Load(), top.Load()
}

// oldestLease samples, until stop is closed, how long ago the oldest slot of
// key in Redis began its lease (its score is that moment plus lease), and
// returns the most it saw.
func oldestLease(rdb *redis.Client, key string, lease time.Duration, stop <-chan struct{}) <-chan time.Duration {
	out := make(chan time.Duration, 1)
	go func() {
		var most time.Duration
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				out <- most
				return
			case <-tick.C:
			}
			for _, z := range rdb.ZRangeWithScores(context.Background(), key, 0, 0).Val() {
				most = max(most, time.Since(time.UnixMilli(int64(z.Score)).Add(-lease)))
			}
		}
	}()
	return out
}

// Slots linger in a worker between deliveries: one worker busy with an endpoint
// takes most of its slots without a Redis call, and keeps their leases current
// (so no worker takes a busy fast endpoint for a slow one); two workers sharing
// the endpoint never have more deliveries in flight than its cap between them;
// the slots go back to Redis once nobody uses them, or at once when a worker
// stops.
func TestThrottle_SlotsLingerAndTheCapHoldsAcrossWorkers(t *testing.T) {
	rdb, url := testenv.Redis(t)
	opts, err := redis.ParseURL(url)
	testenv.Must(t, err)
	sampler := redis.NewClient(opts) // uncounted
	defer sampler.Close()
	calls := &countCalls{}
	rdb.AddHook(calls)
	const limit, lease = 4, 10 * time.Second
	e := &webhooks.Endpoint{ID: "ep-linger"}
	key := "empfio:inflight:{ep-linger}"
	one, other := jobs.NewThrottle(rdb, limit, lease), jobs.NewThrottle(rdb, limit, lease)

	stop := make(chan struct{})
	oldest := oldestLease(sampler, key, lease, stop)
	went, putBack, peak := deliverFor(t, []*jobs.Throttle{one}, e, 12, 1500*time.Millisecond)
	close(stop)
	age := <-oldest
	t.Logf("one worker: %d deliveries went, %d put back, peak %d in flight, %d Redis calls, oldest lease %v", went, putBack, peak, calls.n.Load(), age)
	if peak > limit || went == 0 {
		t.Fatalf("one worker: peak %d in flight (cap %d), %d went", peak, limit, went)
	}
	if c := calls.n.Load(); c >= went {
		t.Fatalf("%d Redis calls for %d deliveries: slots were not reused (without lingering it takes two a delivery)", c, went)
	}
	if age > 750*time.Millisecond { // of 1.5 s of 1 ms deliveries: kept current, it is tens of ms
		t.Fatalf("a slot's lease was %v old while the endpoint answered in a millisecond: the workers would take it for slow", age)
	}
	if putBack > went/10 { // slots handed over without a current lease made it look slow: more put back than went
		t.Fatalf("%d put back for %d that went: a busy fast endpoint was taken for a slow one", putBack, went)
	}

	went, putBack, peak = deliverFor(t, []*jobs.Throttle{one, other}, e, 12, 500*time.Millisecond)
	t.Logf("two workers: %d deliveries went, %d put back, peak %d in flight", went, putBack, peak)
	if peak > limit || went == 0 {
		t.Fatalf("two workers: peak %d in flight (cap %d), %d went", peak, limit, went)
	}
	testenv.Eventually(t, 5*time.Second, "the lingering slots go back to Redis", func() bool {
		return rdb.ZCard(context.Background(), key).Val() == 0
	})

	release, back, err := one.Acquire(context.Background(), e)
	if err != nil || back != nil {
		t.Fatalf("a free endpoint: %v %v", back, err)
	}
	release()
	if n := rdb.ZCard(context.Background(), key).Val(); n != 1 {
		t.Fatalf("%d slots in Redis while one lingers", n)
	}
	one.Close()
	if n := rdb.ZCard(context.Background(), key).Val(); n != 0 {
		t.Fatalf("%d slots left in Redis after Close", n)
	}
}
