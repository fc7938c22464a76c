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
	"github.com/empfio/webhooks/internal/testing/apptest"
	"github.com/empfio/webhooks/internal/testing/testenv"
	"github.com/empfio/webhooks/jobs"
)

// stored stores n lead.created events of orgID, as Publish does, without
// enqueueing their deliveries, and returns the deliveries and each event's
// envelope.
func stored(t *testing.T, a *apptest.App, orgID string, n int) ([]webhooks.Delivery, map[string][]byte) {
	t.Helper()
	var ds []webhooks.Delivery
	envelopes := map[string][]byte{}
	for range n {
		id, now := webhooks.NewEventID()
		ev := &webhooks.Event{ID: id, OrganizationID: orgID, Type: webhooks.LeadCreated, Source: webhooks.SourceAPI,
			Data: []byte(`{"id":"` + uuid.NewString() + `"}`), OccurredAt: now, ReceivedAt: now}
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
// batch run again — as after its worker died — sends nothing more, and a
// delivery that ended before its batch ran is not sent.
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
	testenv.Must(t, a.Redis.Set(ctx, jobs.RedisMarker, "test", 0).Err())
	a.StartWorker(t, 5*time.Second)
	ds, envelopes := stored(t, a, orgID, 3)
	if len(ds) != 6 {
		t.Fatalf("%d deliveries stored, want 6", len(ds))
	}
	testenv.Must(t, a.Queue.EnqueueBatch(ctx, "batch-1", ds, envelopes))

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

	// The same task again, as asynq gives back a task whose worker died.
	testenv.Must(t, a.Queue.EnqueueBatch(ctx, "batch-1", ds, envelopes))
	waitGone(t, a, "batch-1")
	if n, m := len(ok.Of("lead.created")), len(flaky.Of("lead.created")); n != 3 || m != 4 {
		t.Errorf("after the batch ran again: %d and %d requests, want 3 and 4 as before", n, m)
	}

	// A delivery that ended before its batch ran (failed by hand here) is not sent.
	more, moreEnvelopes := stored(t, a, orgID, 1)
	var ended string
	for _, d := range more {
		if d.EndpointID == okID {
			ended = d.ID
			testenv.Must(t, a.DB.FailDelivery(ctx, d.ID, d.CreatedAt, "ended before its batch ran"))
		}
	}
	testenv.Must(t, a.Queue.EnqueueBatch(ctx, "batch-2", more, moreEnvelopes))
	testenv.Eventually(t, 10*time.Second, "the batch's other delivery is sent", func() bool { return len(flaky.Of("lead.created")) == 5 })
	waitGone(t, a, "batch-2")
	if n := countByDelivery(ok)[ended]; n != 0 {
		t.Errorf("a delivery that ended before its batch ran was sent %d times", n)
	}
}

// A batch and each of its deliveries' own tasks, run at once by two workers
// against a receiver slow enough that every task reads its delivery before
// any records it: each delivery is sent once — the delivery's own state
// (store.Take's lease) decides, not the timing.
func TestBatch_ABatchAndTheDeliveriesOwnTasksAtOnceSendEachOnce(t *testing.T) {
	a := apptest.Start(t, apptest.Options{Concurrency: 20})
	ctx := context.Background()
	orgID, key := a.Org(t, "AtOnce")
	slow := apptest.NewReceiver(t, okUnlessEvent(func(_ int, w http.ResponseWriter) {
		time.Sleep(300 * time.Millisecond)
		w.WriteHeader(http.StatusNoContent)
	}))
	hookID, _ := a.Webhook(t, key, slow.URL, "lead.created")
	testenv.Must(t, a.Redis.Set(ctx, jobs.RedisMarker, "test", 0).Err())
	ds, envelopes := stored(t, a, orgID, 8)
	testenv.Must(t, a.Queue.EnqueueBatch(ctx, "both", ds, envelopes))
	for _, d := range ds {
		testenv.Must(t, a.Queue.EnqueueOwn(ctx, d))
	}
	a.StartWorker(t, 5*time.Second)
	a.StartWorker(t, 5*time.Second)
	testenv.Eventually(t, 15*time.Second, "the eight deliveries succeed", func() bool {
		done := 0
		for _, d := range deliveriesOf(t, a, hookID) {
			if d.Status == webhooks.StatusSucceeded {
				done++
			}
		}
		return done == 8
	})
	waitGone(t, a, "both")
	for _, d := range ds {
		waitGone(t, a, d.ID)
	}
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
	testenv.Must(t, a.Queue.EnqueueBatch(ctx, "wide-1", first, firstEnvelopes))
	testenv.Must(t, a.Queue.EnqueueBatch(ctx, "wide-2", second, secondEnvelopes))
	testenv.Eventually(t, 20*time.Second, "24 deliveries received", func() bool { return len(slow.Of("lead.created")) == 24 })
	if m := most.Load(); m > concurrency || m < 2 {
		t.Errorf("%d requests in flight at most, want 2 to %d", m, concurrency)
	}
	if n := len(countByDelivery(slow)); n != 24 {
		t.Errorf("%d distinct deliveries received, want 24", n)
	}
}
