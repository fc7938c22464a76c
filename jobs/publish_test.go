package jobs_test

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	webhooks "github.com/empfio/webhooks"
	"github.com/empfio/webhooks/internal/testing/testenv"
	"github.com/empfio/webhooks/jobs"
	"github.com/empfio/webhooks/store"
)

// publisherOnStalledRedis returns a Publisher whose Redis never answers, and
// an organization with one endpoint.
func publisherOnStalledRedis(t *testing.T) (*jobs.Publisher, *store.DB, string, *testenv.Silent) {
	t.Helper()
	db, _ := testenv.DB(t)
	org, _, err := db.CreateOrganization(context.Background(), "Stalled")
	testenv.Must(t, err)
	testenv.Must(t, db.CreateEndpoint(context.Background(), &webhooks.Endpoint{OrganizationID: org.ID,
		URL: "https://hooks.example.com/x", Events: []string{"*"}}))
	stalled := testenv.NewSilent(t)
	rdb := redis.NewClient(&redis.Options{Addr: stalled.Addr, MaxRetries: -1,
		ReadTimeout: time.Minute, WriteTimeout: time.Minute})
	t.Cleanup(func() { rdb.Close() })
	q := jobs.NewQueue(rdb, "", time.Second)
	t.Cleanup(q.Close)
	t.Cleanup(stalled.HangUp) // first: what waits on it fails, and the queue closes
	return &jobs.Publisher{DB: db, Queue: q, Log: slog.New(slog.DiscardHandler)}, db, org.ID, stalled
}

func leadEvent(orgID string) *webhooks.Event {
	return &webhooks.Event{ID: uuid.NewString(), OrganizationID: orgID, Type: webhooks.LeadCreated, Source: webhooks.SourceAPI,
		Data: []byte(`{"id":"l1"}`), OccurredAt: time.Now(), ReceivedAt: time.Now()}
}

func pendingCount(t *testing.T, db *store.DB) int {
	var n int
	testenv.Must(t, db.Pool().QueryRow(context.Background(), `SELECT count(*) FROM deliveries WHERE status = 'pending'`).Scan(&n))
	return n
}

// Publish answers once the event is committed, before its deliveries'
// enqueue, which follows; Wait waits for it. A Redis that does not answer
// holds the enqueue, not the publish.
func TestPublish_AnswersAtCommitAndEnqueuesAfter(t *testing.T) {
	p, db, orgID, stalled := publisherOnStalledRedis(t)
	ds, err := p.Publish(context.Background(), leadEvent(orgID))
	testenv.Must(t, err)
	if len(ds) != 1 || pendingCount(t, db) != 1 {
		t.Fatalf("%d deliveries made, %d stored pending; want 1 and 1", len(ds), pendingCount(t, db))
	}
	if got := p.Behind(); got != 1 {
		t.Fatalf("%d events' enqueues behind after Publish returned, want 1: it waited for Redis", got)
	}
	stalled.HangUp() // the enqueue fails: the sweeper's, as a failed enqueue always was
	p.Wait()
	if got := p.Behind(); got != 0 {
		t.Fatalf("%d events' enqueues behind after Wait, want 0", got)
	}
	if pendingCount(t, db) != 1 {
		t.Fatal("the delivery whose enqueue failed is not stored pending, for the sweeper")
	}
}

// No more than EnqueueBehindMax events' enqueues wait after Publish returned:
// the next publish waits for its own, so a stalled Redis slows the callers
// instead of filling the api's memory.
func TestPublish_EnqueuesBeforeAnsweringOnceTooManyAreBehind(t *testing.T) {
	p, db, orgID, stalled := publisherOnStalledRedis(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	next := make(chan struct{}, jobs.EnqueueBehindMax)
	for range jobs.EnqueueBehindMax {
		next <- struct{}{}
	}
	close(next)
	for range 32 {
		wg.Go(func() {
			for range next {
				if _, err := p.Publish(ctx, leadEvent(orgID)); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if got := p.Behind(); got != jobs.EnqueueBehindMax {
		t.Fatalf("%d events behind, want %d", got, jobs.EnqueueBehindMax)
	}

	done := make(chan error, 1)
	go func() { _, err := p.Publish(ctx, leadEvent(orgID)); done <- err }()
	testenv.Eventually(t, 10*time.Second, "the next event is committed", func() bool {
		return pendingCount(t, db) == jobs.EnqueueBehindMax+1
	})
	select {
	case err := <-done:
		t.Fatalf("the publish past the bound returned (%v) before its enqueue; %d behind", err, p.Behind())
	default:
	}
	stalled.HangUp()
	testenv.Must(t, <-done)
	p.Wait()
	if got := p.Behind(); got != 0 {
		t.Fatalf("%d events behind after Wait, want 0", got)
	}
}
