package api_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/empfio/webhooks/internal/apptest"
	"github.com/empfio/webhooks/internal/testenv"
)

// dedupValues returns the values of every dedup key in the app's Redis.
func dedupValues(t *testing.T, a *apptest.App) []string {
	t.Helper()
	ctx := context.Background()
	keys, err := a.Redis.Keys(ctx, "empfio:dedup:*").Result()
	testenv.Must(t, err)
	var out []string
	for _, k := range keys {
		if v, err := a.Redis.Get(ctx, k).Result(); err == nil {
			out = append(out, v)
		}
	}
	return out
}

// An api killed between claiming an event's dedup key and storing the event must
// not make the sender's retry a "duplicate": nothing was stored. The retry, to
// another api, gets 409 while the dead claim's lease runs, then is accepted.
func TestAgentEvent_CrashAfterClaimLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the api binary")
	}
	t.Parallel()
	lease := 2 * time.Second
	a := apptest.Start(t, apptest.Options{DedupLease: lease})
	orgID, _ := a.Org(t, "Crash")
	body := agentEvent(orgID, `{"id":"l1","channel":"web"}`)

	// A real api process that hangs right after claiming, then dies by SIGKILL.
	bin := filepath.Join(t.TempDir(), "api")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/api").CombinedOutput(); err != nil {
		t.Fatalf("build api: %v\n%s", err, out)
	}
	addr := freeAddr(t)
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), "DATABASE_URL="+a.DSN, "REDIS_URL="+a.RedisURL, "HTTP_ADDR="+addr,
		"INTERNAL_AUTH_TOKEN="+apptest.InternalToken, "DEDUP_LEASE="+lease.String(),
		"EMPFIO_TEST_HOLD_AFTER_CLAIM=1", "LOG_LEVEL=error")
	cmd.Stderr = os.Stderr
	testenv.Must(t, cmd.Start())
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	testenv.Eventually(t, 30*time.Second, "the api process answers", func() bool {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil && resp.StatusCode == 200
	})
	go func() { // hangs until the process dies
		req, _ := http.NewRequest("POST", "http://"+addr+agentPath, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+apptest.InternalToken)
		req.Header.Set("Content-Type", "application/json")
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	testenv.Eventually(t, 10*time.Second, "the dying api claims the key", func() bool {
		v := dedupValues(t, a)
		return len(v) == 1 && strings.HasPrefix(v[0], "claim:")
	})
	testenv.Must(t, cmd.Process.Signal(syscall.SIGKILL))
	cmd.Wait()
	killed := time.Now()

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

// A repeat that arrives while the first copy is being stored is told to retry
// (409), not "duplicate": the first copy may still fail.
func TestAgentEvent_RepeatDuringAClaimIs409(t *testing.T) {
	a := apptest.Start(t, apptest.Options{})
	orgID, _ := a.Org(t, "InFlight")
	body := agentEvent(orgID, `{"id":"l1","channel":"web"}`)
	claimed, release := make(chan struct{}), make(chan struct{})
	a.Server.AfterDedupClaim(func(context.Context) {
		select {
		case claimed <- struct{}{}:
			<-release
		default: // later requests pass
		}
	})
	first := make(chan *apptest.Response, 1)
	go func() { first <- a.Do(t, "POST", agentPath, apptest.InternalToken, body) }()
	<-claimed
	r := a.Do(t, "POST", agentPath, apptest.InternalToken, body)
	problem(t, r, http.StatusConflict)
	if r.Header.Get("Retry-After") != "1" {
		t.Errorf("409 without Retry-After: %v", r.Header)
	}
	close(release)
	if r := <-first; r.Status != http.StatusAccepted {
		t.Fatalf("first copy: %d %s", r.Status, r.Body)
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
