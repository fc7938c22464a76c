package jobs_test

import (
	"context"
	"errors"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"

	webhooks "github.com/empfio/webhooks"
	"github.com/empfio/webhooks/internal/apptest"
	"github.com/empfio/webhooks/internal/testenv"
	"github.com/empfio/webhooks/jobs"
	"github.com/empfio/webhooks/store"
)

// stored stores n lead.created events of orgID, as Publish does, without
// enqueueing their deliveries, and returns the deliveries and each event's
// envelope.
func stored(t *testing.T, a *apptest.App, orgID string, n int) ([]store.Published, map[string][]byte) {
	t.Helper()
	var ds []store.Published
	envelopes := map[string][]byte{}
	for range n {
		ev := &webhooks.Event{ID: uuid.NewString(), OrganizationID: orgID, Type: webhooks.LeadCreated, Source: webhooks.SourceAPI,
			Data: []byte(`{"id":"` + uuid.NewString() + `"}`), OccurredAt: time.Now(), ReceivedAt: time.Now()}
		testenv.Must(t, ev.RenderEnvelope())
		published, err := a.DB.Publish(context.Background(), ev)
		testenv.Must(t, err)
		ds = append(ds, published...)
		envelopes[ev.ID] = ev.Envelope
	}
	return ds, envelopes
}

// waitGone waits until the task id has run and left Redis.
func waitGone(t *testing.T, a *apptest.App, id string) {
	t.Helper()
	inspector := asynq.NewInspectorFromRedisClient(a.Redis)
	testenv.Eventually(t, 10*time.Second, "task "+id+" has run", func() bool {
		_, err := inspector.GetTaskInfo(a.Queue.Name(), id)
		return errors.Is(err, asynq.ErrTaskNotFound)
	})
}

// countByDelivery counts a receiver's requests by X-Empfio-Delivery.
func countByDelivery(r *apptest.Receiver) map[string]int {
	n := map[string]int{}
	for _, got := range r.Of("lead.created") {
		n[got.Header.Get("X-Empfio-Delivery")]++
	}
	return n
}

// A batch task's deliveries are each sent once, with the envelope stored; one
// that fails gets a task of its own and is retried on its schedule. The same
// batch run again — as after its worker died — sends nothing more, and an old
// batch reads its deliveries, so one that ended meanwhile is not sent.
func TestBatch_EachDeliveryOnceAndTheUnfinishedGetTasksOfTheirOwn(t *testing.T) {
	a := apptest.Start(t, apptest.Options{})
	ctx := context.Background()
	orgID, key := a.Org(t, "Batch")
	ok := apptest.NewReceiver(t, apptest.Status(http.StatusNoContent))
	flaky := apptest.NewReceiver(t, okUnlessEvent(func(n int, w http.ResponseWriter) {
		if n == 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	okID, _ := a.Webhook(t, key, ok.URL, "lead.created")
	flakyID, _ := a.Webhook(t, key, flaky.URL, "lead.created")
	// Redis is intact: the sweeper's watch, finding no mark in a new Redis,
	// would give every open delivery a task of its own.
	testenv.Must(t, a.Redis.Set(ctx, jobs.RedisMarker, "test", 0).Err())
	a.StartWorker(t, 5*time.Second)
	ds, envelopes := stored(t, a, orgID, 3)
	if len(ds) != 6 {
		t.Fatalf("%d deliveries stored, want 6", len(ds))
	}
	testenv.Must(t, a.Queue.EnqueueBatch(ctx, "batch-1", time.Now(), ds, envelopes))

	testenv.Eventually(t, 20*time.Second, "all six deliveries succeed", func() bool {
		done := 0
		for _, id := range []string{okID, flakyID} {
			for _, d := range deliveriesOf(t, a, id) {
				if d.Status == webhooks.StatusSucceeded {
					done++
				}
			}
		}
		return done == 6
	})
	byOK, byFlaky := countByDelivery(ok), countByDelivery(flaky)
	if len(byOK) != 3 || len(byFlaky) != 3 {
		t.Fatalf("deliveries received: %d and %d, want 3 and 3", len(byOK), len(byFlaky))
	}
	twice := 0
	for id, n := range byFlaky {
		if n == 2 {
			twice++
		} else if n != 1 {
			t.Errorf("delivery %s sent %d times", id, n)
		}
	}
	if twice != 1 {
		t.Errorf("%d deliveries were sent twice, want the one answered 503", twice)
	}
	for _, d := range deliveriesOf(t, a, flakyID) {
		if d.Attempts != byFlaky[d.ID] {
			t.Errorf("delivery %s: %d attempts recorded, %d sent", d.ID, d.Attempts, byFlaky[d.ID])
		}
	}
	for _, got := range ok.Of("lead.created") {
		var event string
		for _, d := range ds {
			if d.ID == got.Header.Get("X-Empfio-Delivery") {
				event = d.EventID
			}
		}
		if string(got.Body) != string(envelopes[event]) {
			t.Errorf("delivery %s: sent %q, stored %q", got.Header.Get("X-Empfio-Delivery"), got.Body, envelopes[event])
		}
	}

	// The same task again, as asynq gives back a task whose worker died: no
	// retry counted, so the batch's own mark tells it has run.
	testenv.Must(t, a.Queue.EnqueueBatch(ctx, "batch-1", time.Now(), ds, envelopes))
	waitGone(t, a, "batch-1")
	if n, m := len(ok.Of("lead.created")), len(flaky.Of("lead.created")); n != 3 || m != 4 {
		t.Errorf("after the batch ran again: %d and %d requests, want 3 and 4 as before", n, m)
	}

	// An old batch: a delivery failed meanwhile (by hand here) is not sent.
	more, moreEnvelopes := stored(t, a, orgID, 1)
	var ended string
	for _, d := range more {
		if d.EndpointID == okID {
			ended = d.ID
			testenv.Must(t, a.DB.FailDelivery(ctx, d.ID, "ended before its batch ran"))
		}
	}
	testenv.Must(t, a.Queue.EnqueueBatch(ctx, "batch-2", time.Now().Add(-10*time.Minute), more, moreEnvelopes))
	testenv.Eventually(t, 10*time.Second, "the old batch's other delivery is sent", func() bool { return len(flaky.Of("lead.created")) == 5 })
	waitGone(t, a, "batch-2")
	if n := countByDelivery(ok)[ended]; n != 0 {
		t.Errorf("a delivery that ended before its old batch ran was sent %d times", n)
	}
}

// Workers were down past the sweeper's grace: the sweeper gave each delivery
// waiting in a batch a task of its own, since none has one it could find. The
// old batch, run at last, leaves them to those tasks: each is sent once, even
// by a receiver slow enough that both would have read it before either
// recorded it.
func TestBatch_AnOldBatchLeavesTheSweptDeliveriesToTheirOwnTasks(t *testing.T) {
	a := apptest.Start(t, apptest.Options{SweepGrace: 200 * time.Millisecond})
	ctx := context.Background()
	orgID, key := a.Org(t, "Swept")
	slow := apptest.NewReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) {
		time.Sleep(300 * time.Millisecond)
		w.WriteHeader(http.StatusNoContent)
	})
	hookID, _ := a.Webhook(t, key, slow.URL, "lead.created")
	testenv.Must(t, a.Redis.Set(ctx, jobs.RedisMarker, "test", 0).Err())
	ds, envelopes := stored(t, a, orgID, 3)
	testenv.Must(t, a.Queue.EnqueueBatch(ctx, "waited", time.Now().Add(-10*time.Minute), ds, envelopes))
	claimed := 0
	testenv.Eventually(t, 10*time.Second, "the sweeper claims the three deliveries", func() bool {
		n, err := a.Sweeper.Sweep(ctx)
		testenv.Must(t, err)
		claimed += n
		return claimed == 3
	})
	for _, d := range ds {
		if a.Redis.Exists(ctx, "asynq:{"+a.Queue.Name()+"}:t:"+d.ID).Val() != 1 {
			t.Fatalf("the sweeper gave delivery %s no task of its own", d.ID)
		}
	}

	a.StartWorker(t, 5*time.Second)
	testenv.Eventually(t, 10*time.Second, "the three deliveries succeed", func() bool {
		done := 0
		for _, d := range deliveriesOf(t, a, hookID) {
			if d.Status == webhooks.StatusSucceeded {
				done++
			}
		}
		return done == 3
	})
	waitGone(t, a, "waited")
	sent := countByDelivery(slow)
	for _, d := range ds {
		if sent[d.ID] != 1 {
			t.Errorf("delivery %s was sent %d times, want once", d.ID, sent[d.ID])
		}
	}
}

// A worker sends at most its concurrency of requests at once, however many
// deliveries its batches hold: a batch's deliveries wait for a place.
func TestBatch_AWorkerSendsNoMoreThanItsConcurrencyAtOnce(t *testing.T) {
	const concurrency = 4
	a := apptest.Start(t, apptest.Options{Concurrency: concurrency})
	ctx := context.Background()
	orgID, key := a.Org(t, "Wide")
	var now, most atomic.Int64
	slow := apptest.NewReceiver(t, okUnlessEvent(func(_ int, w http.ResponseWriter) {
		n := now.Add(1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		time.Sleep(50 * time.Millisecond) // a receiver that takes its time
		now.Add(-1)
		w.WriteHeader(http.StatusNoContent)
	}))
	a.Webhook(t, key, slow.URL, "lead.created")
	testenv.Must(t, a.Redis.Set(ctx, jobs.RedisMarker, "test", 0).Err())
	a.StartWorker(t, 5*time.Second)
	first, firstEnvelopes := stored(t, a, orgID, 12)
	second, secondEnvelopes := stored(t, a, orgID, 12)
	testenv.Must(t, a.Queue.EnqueueBatch(ctx, "wide-1", time.Now(), first, firstEnvelopes))
	testenv.Must(t, a.Queue.EnqueueBatch(ctx, "wide-2", time.Now(), second, secondEnvelopes))
	testenv.Eventually(t, 20*time.Second, "24 deliveries received", func() bool { return len(slow.Of("lead.created")) == 24 })
	if m := most.Load(); m > concurrency || m < 2 {
		t.Errorf("%d requests in flight at most, want 2 to %d", m, concurrency)
	}
	if n := len(countByDelivery(slow)); n != 24 {
		t.Errorf("%d distinct deliveries received, want 24", n)
	}
}
