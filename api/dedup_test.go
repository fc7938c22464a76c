package api_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/empfio/webhooks/api"
	"github.com/empfio/webhooks/internal/testing/apptest"
	"github.com/empfio/webhooks/internal/testing/testenv"
	"github.com/empfio/webhooks/jobs"
)

// An api killed between claiming an event's dedup key and storing the event must
// not make the sender's retry a "duplicate": nothing was stored. What the dead
// api leaves is its claim in Redis and nothing in Postgres; the test makes that
// state in-process (claims the key as the dying api did, and stores nothing).
// The retry, to another api, gets 409 while the dead claim's lease runs, then
// is accepted.
func TestAgentEvent_CrashAfterClaimLosesNothing(t *testing.T) {
	lease := 2 * time.Second
	a := apptest.Start(t, apptest.Options{DedupLease: lease})
	orgID, _ := a.Org(t, "Crash")
	body := agentEvent(orgID, `{"id":"l1","channel":"web"}`)
	key, err := api.AgentDedupKey(body)
	testenv.Must(t, err)
	dying := &jobs.Dedup{Redis: a.Redis, Window: time.Minute, Lease: lease}
	claim, err := dying.Claim(context.Background(), key)
	testenv.Must(t, err)
	if claim.State != jobs.Claimed {
		t.Fatalf("the dying api's claim: %v", claim.State)
	}
	killed := time.Now() // it dies here: no store, no release

	r := a.Do(t, "POST", agentPath, apptest.InternalToken, body)
	if r.Status == http.StatusOK {
		t.Fatalf("the retry was told %s while nothing is stored", r.Body)
	}
	if r.Status != http.StatusConflict || r.Header.Get("Retry-After") != "1" {
		t.Fatalf("retry during the dead claim's lease: %d %s (Retry-After %q), want 409 with Retry-After 1",
			r.Status, r.Body, r.Header.Get("Retry-After"))
	}
	if n := countEvents(t, a.DB); n != 0 {
		t.Fatalf("%d events stored", n)
	}
	var accepted *apptest.Response
	testenv.Eventually(t, 3*lease, "a retry is accepted once the lease ends", func() bool {
		accepted = a.Do(t, "POST", agentPath, apptest.InternalToken, body)
		return accepted.Status == http.StatusAccepted
	})
	if waited := time.Since(killed); waited > lease+time.Second {
		t.Errorf("accepted %s after the kill, want within the lease (%s)", waited, lease)
	}
	if r := a.Do(t, "POST", agentPath, apptest.InternalToken, body); r.Status != 200 || r.Map(t)["event_id"] != accepted.Map(t)["event_id"] {
		t.Fatalf("repeat after commit: %d %s, want a duplicate of %s", r.Status, r.Body, accepted.Body)
	}
	if n := countEvents(t, a.DB); n != 1 {
		t.Fatalf("%d events stored, want 1", n)
	}
}

// A repeat that arrives while the first copy is being stored (its claim in
// flight, here made in-process) is told to retry (409), not "duplicate": the
// first copy may still fail — and when it does and releases the key, the
// repeat is accepted.
func TestAgentEvent_RepeatDuringAClaimIs409(t *testing.T) {
	a := apptest.Start(t, apptest.Options{})
	orgID, _ := a.Org(t, "InFlight")
	body := agentEvent(orgID, `{"id":"l1","channel":"web"}`)
	key, err := api.AgentDedupKey(body)
	testenv.Must(t, err)
	first, err := a.Server.Dedup.Claim(context.Background(), key)
	testenv.Must(t, err)
	r := a.Do(t, "POST", agentPath, apptest.InternalToken, body)
	problem(t, r, http.StatusConflict)
	if r.Header.Get("Retry-After") != "1" {
		t.Errorf("409 without Retry-After: %v", r.Header)
	}
	testenv.Must(t, first.Release(context.Background())) // the first copy failed to store
	if r := a.Do(t, "POST", agentPath, apptest.InternalToken, body); r.Status != http.StatusAccepted {
		t.Fatalf("after the first copy failed: %d %s", r.Status, r.Body)
	}
	if r := a.Do(t, "POST", agentPath, apptest.InternalToken, body); r.Status != 200 || r.Map(t)["status"] != "duplicate" {
		t.Fatalf("after commit: %d %s", r.Status, r.Body)
	}
}

// A claim over an event that is stored is a duplicate, however old the claim:
// Postgres says so before any takeover. So is an older version's in-flight
// value (a rolling upgrade).
func TestAgentEvent_InFlightClaimOverAStoredEventIsADuplicate(t *testing.T) {
	a := apptest.Start(t, apptest.Options{})
	orgID, _ := a.Org(t, "Stored")
	body := agentEvent(orgID, `{"id":"l1","channel":"web"}`)
	accepted := a.Do(t, "POST", agentPath, apptest.InternalToken, body)
	if accepted.Status != http.StatusAccepted {
		t.Fatalf("%d %s", accepted.Status, accepted.Body)
	}
	ctx := context.Background()
	keys, err := a.Redis.Keys(ctx, "empfio:dedup:*").Result()
	testenv.Must(t, err)
	if len(keys) != 1 {
		t.Fatalf("dedup keys %v", keys)
	}
	stale := fmt.Sprintf("claim:%d:someone-who-died", time.Now().Add(-time.Hour).UnixMilli())
	for _, v := range []string{stale, "inflight:someone-who-died"} {
		testenv.Must(t, a.Redis.Set(ctx, keys[0], v, 10*time.Second).Err())
		r := a.Do(t, "POST", agentPath, apptest.InternalToken, body)
		if r.Status != 200 || r.Map(t)["status"] != "duplicate" || r.Map(t)["event_id"] != accepted.Map(t)["event_id"] {
			t.Fatalf("key %q: %d %s, want a duplicate of %s", v, r.Status, r.Body, accepted.Body)
		}
	}
	if n := countEvents(t, a.DB); n != 1 {
		t.Fatalf("%d events stored, want 1", n)
	}
}

// freeAddr returns a loopback address with a port nothing listens on.
func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	testenv.Must(t, err)
	addr := ln.Addr().String()
	ln.Close()
	return addr
}
