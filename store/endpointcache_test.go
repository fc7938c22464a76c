package store_test

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	webhooks "github.com/empfio/webhooks"
	"github.com/empfio/webhooks/internal/testenv"
	"github.com/empfio/webhooks/store"
)

func moveEndpoint(t *testing.T, db *store.DB, id, url string) {
	t.Helper()
	_, err := db.Pool().Exec(context.Background(), `UPDATE endpoints SET url = $2 WHERE id = $1`, id, url)
	testenv.Must(t, err)
}

// A copy is served while it is at least the version asked for: a delivery
// published after a change asks for the changed endpoint and gets it, even
// before the change's notification arrives (here it never does).
func TestEndpointCache_NeverServesACopyOlderThanTheVersionAskedFor(t *testing.T) {
	db, _ := testenv.DB(t)
	ctx := context.Background()
	id := endpointOf(t, db, subscribedOrg(t, db, "Versions"))
	c := db.NewEndpointCache(slog.New(slog.DiscardHandler))
	c.KeepWithoutListening()

	first, err := c.Endpoint(ctx, id, 1)
	testenv.Must(t, err)
	if again, _ := c.Endpoint(ctx, id, 1); again != first {
		t.Fatal("a second lookup read Postgres again: nothing is kept")
	}
	moveEndpoint(t, db, id, "https://moved.example.com/x") // version 2
	if stale, _ := c.Endpoint(ctx, id, 1); stale != first {
		t.Fatal("version 1 asked for: the copy kept should do, without a read")
	}
	moved, err := c.Endpoint(ctx, id, 2)
	testenv.Must(t, err)
	if moved.URL != "https://moved.example.com/x" {
		t.Fatalf("version 2 asked for, got the endpoint at %s", moved.URL)
	}
	if again, _ := c.Endpoint(ctx, id, 2); again != moved {
		t.Fatal("the changed endpoint read is not kept")
	}
	if _, err := c.Endpoint(ctx, "00000000-0000-0000-0000-000000000000", 1); webhooks.ErrorCode(err) != webhooks.ENOTFOUND {
		t.Fatalf("an unknown endpoint: %v, want ENOTFOUND", err)
	}
}

// While it listens the cache drops an endpoint as soon as it changes or is
// deleted; when its connection is cut it keeps nothing, then listens again.
func TestEndpointCache_DropsWhatChangesAndListensAgainAfterItsConnectionIsCut(t *testing.T) {
	db, _ := testenv.DB(t)
	ctx := context.Background()
	id := endpointOf(t, db, subscribedOrg(t, db, "Listeners"))
	c := db.NewEndpointCache(slog.New(slog.DiscardHandler))
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { c.Run(runCtx); close(done) }()
	t.Cleanup(func() { stop(); <-done })

	// kept returns the copy the cache keeps, once it keeps one.
	kept := func() *webhooks.Endpoint {
		t.Helper()
		var e *webhooks.Endpoint
		testenv.Eventually(t, 5*time.Second, "the cache keeps the endpoint", func() bool {
			a, err := c.Endpoint(ctx, id, 1)
			testenv.Must(t, err)
			b, _ := c.Endpoint(ctx, id, 1)
			e = b
			return a == b
		})
		return e
	}
	if e := kept(); e.URL != "https://hooks.example.com/x" {
		t.Fatalf("kept the endpoint at %s", e.URL)
	}
	moveEndpoint(t, db, id, "https://moved.example.com/x")
	testenv.Eventually(t, 5*time.Second, "the change is seen without asking for its version", func() bool {
		e, err := c.Endpoint(ctx, id, 1)
		testenv.Must(t, err)
		return e.URL == "https://moved.example.com/x"
	})

	before := kept()
	var cut bool
	testenv.Must(t, db.Pool().QueryRow(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE datname = current_database() AND query LIKE 'LISTEN %'`).Scan(&cut))
	if !cut {
		t.Fatal("no listening connection to cut")
	}
	testenv.Eventually(t, 5*time.Second, "the cache drops what it kept once its connection is cut", func() bool {
		e, err := c.Endpoint(ctx, id, 1)
		testenv.Must(t, err)
		return e != before
	})
	after := kept() // listening again
	moveEndpoint(t, db, id, "https://again.example.com/x")
	testenv.Eventually(t, 5*time.Second, "a change after it listens again is seen", func() bool {
		e, err := c.Endpoint(ctx, id, 1)
		testenv.Must(t, err)
		return e != after && e.URL == "https://again.example.com/x"
	})

	_, err := db.Pool().Exec(ctx, `DELETE FROM endpoints WHERE id = $1`, id)
	testenv.Must(t, err)
	testenv.Eventually(t, 5*time.Second, "a deleted endpoint is not found", func() bool {
		_, err := c.Endpoint(ctx, id, 1)
		return webhooks.ErrorCode(err) == webhooks.ENOTFOUND
	})
}

// Misses of many endpoints at once (one event to a wide fan-out) are read
// together, and each caller gets its own endpoint.
func TestEndpointCache_ConcurrentMissesEachGetTheirOwnEndpoint(t *testing.T) {
	db, _ := testenv.DB(t)
	ctx := context.Background()
	org, _, err := db.CreateOrganization(ctx, "Wide")
	testenv.Must(t, err)
	const n = 60
	ids := make([]string, n)
	for i := range ids {
		e := &webhooks.Endpoint{OrganizationID: org.ID, URL: fmt.Sprintf("https://hooks.example.com/%d", i), Events: []string{"*"}}
		testenv.Must(t, db.CreateEndpoint(ctx, e))
		ids[i] = e.ID
	}
	c := db.NewEndpointCache(slog.New(slog.DiscardHandler))
	got := make([]*webhooks.Endpoint, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range ids {
		wg.Go(func() { got[i], errs[i] = c.Endpoint(ctx, ids[i], 1) })
	}
	wg.Wait()
	for i := range ids {
		if errs[i] != nil || got[i].ID != ids[i] || got[i].URL != fmt.Sprintf("https://hooks.example.com/%d", i) || got[i].Secret == "" {
			t.Errorf("endpoint %d: %+v, %v", i, got[i], errs[i])
		}
	}
}
