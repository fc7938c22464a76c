package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	webhooks "github.com/empfio/webhooks"
	"github.com/empfio/webhooks/internal/testing/apptest"
	"github.com/empfio/webhooks/internal/testing/testenv"
	"github.com/empfio/webhooks/verify"
)

func TestMain(m *testing.M) { apptest.Main(m) }

// cliEnv points the CLI at the api at url with key, and keeps its listen
// secret in a directory of t's (not the user's own configuration).
func cliEnv(t *testing.T, url, key string) {
	t.Setenv("EMPFIO_API_URL", url)
	t.Setenv("EMPFIO_API_KEY", key)
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
}

// startCLI runs the CLI with args until stop, which returns what run did.
func startCLI(t *testing.T, args ...string) (out *syncBuffer, stop func() error) {
	out = &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, args, out, out) }()
	return out, sync.OnceValue(func() error { cancel(); return <-done })
}

// noContent is a local server that answers 204 to everything.
func noContent(t *testing.T) *httptest.Server {
	local := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	t.Cleanup(local.Close)
	return local
}

// syncBuffer is the CLI's output, read while it runs.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// empfio listen forwards what empfio trigger publishes to a local URL, signed
// with the session's secret, printing a line per delivery, only of the types it
// listens to; the session's endpoint ends with the CLI.
func TestListen_ForwardsTriggeredEventsSigned(t *testing.T) {
	a := apptest.Start(t, apptest.Options{Worker: true})
	_, key := a.Org(t, "Laptop")
	cliEnv(t, a.URL, key)

	var mu sync.Mutex
	var got []*http.Request
	var bodies [][]byte
	local := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got, bodies = append(got, r), append(bodies, b)
		n := len(got)
		mu.Unlock()
		if n == 1 {
			w.WriteHeader(http.StatusInternalServerError) // the first attempt fails locally
			w.Write([]byte("local bug"))
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(local.Close)

	out, stop := startCLI(t, "listen", "--forward-to", local.URL+"/hooks", "--events", "lead.*")
	t.Cleanup(func() { stop() })
	testenv.Eventually(t, 10*time.Second, "the session is ready", func() bool { return strings.Contains(out.String(), "Ready") })
	secret := regexp.MustCompile(`whsec_\S+`).FindString(out.String())

	// A session receives once a stream is open; publish after the first read.
	testenv.Eventually(t, 10*time.Second, "the stream is open", func() bool {
		n, _ := a.Redis.Keys(context.Background(), "empfio:listen:*:alive").Result()
		return len(n) == 1
	})
	trig := &syncBuffer{}
	for _, eventType := range []string{webhooks.LeadCreated, webhooks.BookingCreated} {
		if err := run(context.Background(), []string{"trigger", eventType}, trig, trig); err != nil {
			t.Fatal(err)
		}
	}
	if !strings.Contains(trig.String(), "Triggered lead.created") || !strings.Contains(trig.String(), "1 deliveries") {
		t.Fatalf("trigger printed %q", trig.String())
	}
	testenv.Eventually(t, 15*time.Second, "the lead reaches the local URL", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) >= 1
	})
	mu.Lock()
	r, body := got[0], bodies[0]
	mu.Unlock()
	if r.URL.Path != "/hooks" || r.Header.Get("X-Empfio-Event") != webhooks.LeadCreated {
		t.Fatalf("forwarded %s %s", r.URL.Path, r.Header.Get("X-Empfio-Event"))
	}
	if !verify.Verify(secret, body, r.Header.Get("X-Empfio-Signature")) {
		t.Fatal("the forwarded delivery does not verify with the session's secret")
	}
	if err := verify.Standard(secret, r.Header, body, 0, time.Now()); err != nil {
		t.Fatal(err)
	}
	// The delivery records what the local server answered: a 500 (a retry
	// follows), then the retry's 204.
	testenv.Eventually(t, 15*time.Second, "a line per attempt", func() bool {
		return strings.Contains(out.String(), "500 Internal Server Error") && strings.Contains(out.String(), "204 No Content")
	})
	if strings.Contains(out.String(), "booking.created") {
		t.Fatal("a booking reached a session listening to lead.*")
	}
	var d webhooks.Delivery
	testenv.Eventually(t, 10*time.Second, "the delivery records both answers", func() bool {
		var id string
		a.DB.Pool().QueryRow(context.Background(), `SELECT id::text FROM deliveries WHERE event_type = 'lead.created'`).Scan(&id)
		d = webhooks.Delivery{}
		a.Do(t, "GET", "/api/v1/deliveries/"+id, key, nil).JSON(t, &d)
		return d.Status == webhooks.StatusSucceeded && len(d.AttemptLog) == 2
	})
	if first := d.AttemptLog[0]; first.StatusCode == nil || *first.StatusCode != 500 || first.ResponseBody == nil || *first.ResponseBody != "local bug" {
		t.Fatalf("the first attempt records %+v, not the local server's 500", first)
	}
	if second := d.AttemptLog[1]; second.StatusCode == nil || *second.StatusCode != 204 {
		t.Fatalf("the second attempt records %+v", second)
	}

	// The session is not one of the organization's webhooks.
	var list struct{ Data []webhooks.Endpoint }
	a.Do(t, "GET", "/api/v1/webhooks", key, nil).JSON(t, &list)
	if len(list.Data) != 0 {
		t.Fatalf("webhooks while listening: %+v", list.Data)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	var left int
	testenv.Must(t, a.DB.Pool().QueryRow(context.Background(), `SELECT count(*) FROM endpoints WHERE deleted_at IS NULL`).Scan(&left))
	if left != 0 {
		t.Fatalf("the session's endpoint outlived the CLI: %d endpoints", left)
	}
}

// trigger sends to the listening sessions only, unless --all; with none
// listening it says so and sends nothing.
func TestTrigger_GoesToTheListeningSessionUnlessAll(t *testing.T) {
	a := apptest.Start(t, apptest.Options{Worker: true})
	_, key := a.Org(t, "Trigger")
	cliEnv(t, a.URL, key)
	real := apptest.NewReceiver(t, apptest.Status(200))
	a.Webhook(t, key, real.URL, "*")
	out := &syncBuffer{}
	err := run(context.Background(), []string{"trigger", webhooks.LeadCreated}, out, out)
	if err == nil || !strings.Contains(err.Error(), "409") || !strings.Contains(err.Error(), "--all") {
		t.Fatalf("trigger with nobody listening: %v", err)
	}
	if err := run(context.Background(), []string{"trigger", "--all", webhooks.LeadCreated}, out, out); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 10*time.Second, "--all reaches the real endpoint", func() bool { return len(real.Of(webhooks.LeadCreated)) == 1 })

	// With a session listening, the default leaves the real endpoint alone.
	listening, stop := startCLI(t, "listen", "--forward-to", noContent(t).URL)
	t.Cleanup(func() { stop() })
	testenv.Eventually(t, 10*time.Second, "the stream is open", func() bool {
		n, _ := a.Redis.Keys(context.Background(), "empfio:listen:*:alive").Result()
		return len(n) == 1
	})
	if err := run(context.Background(), []string{"trigger", webhooks.BookingCreated}, out, out); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 10*time.Second, "the session gets it", func() bool { return strings.Contains(listening.String(), "booking.created") })
	if n := len(real.Of(webhooks.BookingCreated)); n != 0 {
		t.Fatalf("the real endpoint got %d triggered bookings", n)
	}
}

// Without a key, or with a bad one, the CLI says so.
func TestCLI_Errors(t *testing.T) {
	a := apptest.Start(t, apptest.Options{})
	cliEnv(t, a.URL, "")
	if err := run(context.Background(), []string{"trigger", "lead.created"}, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "EMPFIO_API_KEY") {
		t.Fatalf("no key: %v", err)
	}
	t.Setenv("EMPFIO_API_KEY", "emp_wrong")
	if err := run(context.Background(), []string{"trigger", "lead.created"}, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("bad key: %v", err)
	}
	_, key := a.Org(t, "Errors")
	t.Setenv("EMPFIO_API_KEY", key)
	if err := run(context.Background(), []string{"trigger", "no.such"}, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("unknown type: %v", err)
	}
	if err := run(context.Background(), []string{"listen"}, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "--forward-to") {
		t.Fatalf("listen without --forward-to: %v", err)
	}
	// The API's field errors are printed, each with its field.
	err := run(context.Background(), []string{"listen", "--forward-to", "http://127.0.0.1:1", "--events", "no.such"}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "events[0]") || !strings.Contains(err.Error(), "no.such") {
		t.Fatalf("listen to an unknown type: %v", err)
	}
	// Help needs no key.
	t.Setenv("EMPFIO_API_KEY", "")
	for _, args := range [][]string{{"--help"}, {"help"}, {"listen", "--help"}, {"trigger", "-h"}} {
		out := &syncBuffer{}
		if err := run(context.Background(), args, out, out); err != nil || !strings.Contains(out.String(), "forward-to") && !strings.Contains(out.String(), "-all") {
			t.Errorf("%v: %v, printed %q", args, err, out.String())
		}
	}
}

// empfio version says which build it is, needing no key.
func TestVersion_NeedsNoKey(t *testing.T) {
	t.Setenv("EMPFIO_API_KEY", "")
	var out bytes.Buffer
	if err := run(context.Background(), []string{"version"}, &out, &out); err != nil {
		t.Fatal(err)
	}
	if got := out.String(); !strings.HasPrefix(got, "empfio "+webhooks.Version()+" (go") || !strings.Contains(got, runtime.GOOS+"/"+runtime.GOARCH) {
		t.Fatalf("version says %q", got)
	}
}

// With --json, listen and trigger print one JSON object a line: the session
// ready (with its secret), each delivery with the local answer, the trigger.
func TestListen_JSONLines(t *testing.T) {
	a := apptest.Start(t, apptest.Options{Worker: true})
	_, key := a.Org(t, "Scripted")
	cliEnv(t, a.URL, key)
	local := noContent(t)
	out, stop := startCLI(t, "listen", "--forward-to", local.URL, "--json")
	t.Cleanup(func() { stop() })
	lines := func() []map[string]any {
		var list []map[string]any
		for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
			var m map[string]any
			if json.Unmarshal([]byte(l), &m) != nil {
				t.Fatalf("a line that is not JSON: %q", l)
			}
			list = append(list, m)
		}
		return list
	}
	testenv.Eventually(t, 10*time.Second, "the ready line", func() bool { return strings.Contains(out.String(), `"type":"ready"`) })
	if ready := lines()[0]; !strings.HasPrefix(ready["secret"].(string), "whsec_") || ready["forward_to"] != local.URL {
		t.Fatalf("ready: %v", ready)
	}
	testenv.Eventually(t, 10*time.Second, "the stream is open", func() bool {
		n, _ := a.Redis.Keys(context.Background(), "empfio:listen:*:alive").Result()
		return len(n) == 1
	})
	trig := &syncBuffer{}
	if err := run(context.Background(), []string{"trigger", webhooks.LeadCreated, "--json"}, trig, trig); err != nil {
		t.Fatal(err)
	}
	var triggered map[string]any
	if err := json.Unmarshal([]byte(trig.String()), &triggered); err != nil || triggered["type"] != "triggered" || triggered["deliveries"] != 1.0 {
		t.Fatalf("trigger printed %q (%v)", trig.String(), err)
	}
	testenv.Eventually(t, 15*time.Second, "the delivery line", func() bool { return strings.Contains(out.String(), `"type":"delivery"`) })
	for _, m := range lines() {
		if m["type"] == "delivery" && (m["event_type"] != webhooks.LeadCreated || m["status_code"] != 204.0 || m["delivery_id"] == "") {
			t.Fatalf("delivery line: %v", m)
		}
	}
}

// listen --print-secret prints the secret that signs this key's sessions on
// this machine: the same on every call and in every session (a local server
// configured once keeps verifying), another for another key, kept readable by
// its owner only; a file that holds no secret is an error, not replaced.
func TestListen_PrintSecretStaysTheSameForAKeyAndMachine(t *testing.T) {
	a := apptest.Start(t, apptest.Options{Worker: true})
	_, key := a.Org(t, "Stable")
	cliEnv(t, a.URL, key)
	printed := func() string {
		t.Helper()
		out := &syncBuffer{}
		if err := run(context.Background(), []string{"listen", "--print-secret"}, out, out); err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(out.String())
	}
	secret := printed()
	if webhooks.CheckSecret(secret) != nil || printed() != secret {
		t.Fatalf("printed %q, then another", secret)
	}
	files, _ := filepath.Glob(filepath.Join(os.Getenv("XDG_CONFIG_HOME"), "empfio", "listen", "*"))
	if len(files) != 1 {
		t.Fatalf("kept in %v", files)
	}
	if fi, err := os.Stat(files[0]); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("kept with mode %v (%v); want 0600", fi.Mode(), err)
	}
	if b, _ := os.ReadFile(files[0]); strings.Contains(string(b), key) {
		t.Fatal("the key is written in the secret's file")
	}

	// A session signs with it.
	out, stop := startCLI(t, "listen", "--forward-to", noContent(t).URL, "--json")
	testenv.Eventually(t, 10*time.Second, "the ready line", func() bool { return strings.Contains(out.String(), `"type":"ready"`) })
	testenv.Must(t, stop())
	var ready map[string]any
	testenv.Must(t, json.Unmarshal([]byte(strings.SplitN(out.String(), "\n", 2)[0]), &ready))
	if ready["secret"] != secret {
		t.Fatalf("the session signs with %v; printed %s", ready["secret"], secret)
	}

	_, other := a.Org(t, "Other")
	t.Setenv("EMPFIO_API_KEY", other)
	if printed() == secret {
		t.Fatal("another key has the same secret")
	}
	testenv.Must(t, os.WriteFile(files[0], []byte("not a secret"), 0o600))
	t.Setenv("EMPFIO_API_KEY", key)
	err := run(context.Background(), []string{"listen", "--print-secret"}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "does not hold a secret") {
		t.Fatalf("a damaged secret file: %v", err)
	}
}
