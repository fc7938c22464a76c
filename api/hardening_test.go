package api_test

import (
	"context"
	"encoding/base64"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/empfio/webhooks/internal/testing/apptest"
	"github.com/empfio/webhooks/internal/testing/testenv"
)

func TestRoutes_WrongMethodIs405WithAllow(t *testing.T) {
	a := apptest.Start(t, apptest.Options{})
	_, key := a.Org(t, "Methods")
	r := a.Do(t, "PUT", "/api/v1/webhooks/6f1c2a9e-8b1d-4c57-9e2a-71d0b5c4e8f2", key, `{}`)
	problem(t, r, http.StatusMethodNotAllowed)
	if got := r.Header.Get("Allow"); got != "DELETE, GET, PATCH" {
		t.Fatalf("Allow %q", got)
	}
	r = a.Do(t, "DELETE", "/api/v1/event-types", key, nil)
	problem(t, r, http.StatusMethodNotAllowed)
	if got := r.Header.Get("Allow"); got != "GET" {
		t.Fatalf("Allow %q", got)
	}
	problem(t, a.Do(t, "GET", "/api/v1/no-such-thing", key, nil), http.StatusNotFound)
}

func TestRequests_HugeHeadersAre431(t *testing.T) {
	a := apptest.Start(t, apptest.Options{})
	// Twice the server's 4 KiB header buffer: small enough that the whole request
	// is written before the server answers and closes.
	r := a.DoWith(t, "GET", "/healthz", nil, map[string]string{"X-Padding": strings.Repeat("p", 8<<10)})
	if r.Status != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("8 KiB header: %d %s", r.Status, r.Body)
	}
}

func TestRequests_JSONInAnotherCharsetIs415(t *testing.T) {
	a := apptest.Start(t, apptest.Options{})
	orgID, _ := a.Org(t, "Charset")
	for ct, want := range map[string]int{
		"application/json; charset=utf-16": 415, "application/json; charset=ISO-8859-1": 415,
		"application/json; charset=UTF-8": 202, "application/json": 202, "application/json; charset=utf8": 202,
	} {
		body := agentEvent(orgID, `{"id":"`+ct+`","channel":"web"}`) // an event of its own each
		r := a.DoWith(t, "POST", agentPath, body, map[string]string{"Authorization": "Bearer " + apptest.InternalToken, "Content-Type": ct})
		if r.Status != want {
			t.Errorf("%s: %d, want %d", ct, r.Status, want)
		}
	}
}

func TestReplay_BadTimeDoesNotEchoTheInput(t *testing.T) {
	a := apptest.Start(t, apptest.Options{})
	_, key := a.Org(t, "Replay")
	hookID, _ := a.Webhook(t, key, "http://127.0.0.1:1/x", "*")
	r := a.Do(t, "POST", "/api/v1/webhooks/"+hookID+"/replay", key, `{"since":"last-tuesday-at-noon"}`)
	problem(t, r, http.StatusUnprocessableEntity)
	if n := strings.Count(string(r.Body), "last-tuesday"); n != 0 {
		t.Fatalf("the input is echoed %d times: %s", n, r.Body)
	}
	if !strings.Contains(string(r.Body), "RFC 3339") {
		t.Fatalf("no hint of the expected form: %s", r.Body)
	}
}

func TestSecrets_PreviousSecretIsForgottenAfterItsGrace(t *testing.T) {
	a := apptest.Start(t, apptest.Options{})
	_, key := a.Org(t, "Forget")
	hookID, _ := a.Webhook(t, key, "http://127.0.0.1:1/x", "*")
	if r := a.Do(t, "POST", "/api/v1/webhooks/"+hookID+"/secret/rotate", key, `{"grace":"1s"}`); r.Status != 200 {
		t.Fatalf("rotate: %d %s", r.Status, r.Body)
	}
	n, err := a.DB.ForgetExpiredSecrets(context.Background())
	testenv.Must(t, err)
	if n != 0 {
		t.Fatalf("forgot %d previous secrets still in their grace period", n)
	}
	testenv.Eventually(t, 10*time.Second, "the grace period ends and the secret is forgotten", func() bool {
		n, err = a.DB.ForgetExpiredSecrets(context.Background())
		testenv.Must(t, err)
		return n == 1
	})
	var left int
	testenv.Must(t, a.DB.Pool().QueryRow(context.Background(), `SELECT count(*) FROM endpoints WHERE previous_secret IS NOT NULL`).Scan(&left))
	if left != 0 {
		t.Fatalf("%d previous secrets left", left)
	}
}

func TestOps_QueuesAreReadOnlyAndRefuseCrossOriginWrites(t *testing.T) {
	basic := map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte("ops:"+apptest.AdminToken))}
	a := apptest.Start(t, apptest.Options{})
	if r := a.DoWith(t, "POST", "/ops/queues/api/queues/webhooks:pause", nil, basic); r.Status != http.StatusMethodNotAllowed {
		t.Fatalf("a write to read-only asynqmon: %d %.200s", r.Status, r.Body)
	}
	w := apptest.Start(t, apptest.Options{OpsWritable: true})
	cross := map[string]string{"Authorization": basic["Authorization"], "Origin": "https://evil.example"}
	if r := w.DoWith(t, "POST", "/ops/queues/api/queues/webhooks:pause", nil, cross); r.Status != http.StatusForbidden {
		t.Fatalf("a cross-origin write: %d %.200s", r.Status, r.Body)
	}
	if r := w.DoWith(t, "GET", "/ops/queues/api/queues", nil, cross); r.Status != http.StatusOK {
		t.Fatalf("a cross-origin read: %d", r.Status)
	}
}

// Guessing credentials from one address is cut off: after the allowed failures
// every authentication from it answers 429 with Retry-After — a valid key too, so
// the answers tell a guesser nothing — while other addresses are unaffected.
func TestAuth_FailedAuthenticationsAreRateLimitedPerAddress(t *testing.T) {
	a := apptest.Start(t, apptest.Options{AuthFailures: 5})
	_, key := a.Org(t, "Guarded")
	statuses := map[int]int{}
	for i := range 12 {
		creds := []string{"emp_guess" + strings.Repeat("x", i), "wrong-admin", "emps_guess"}
		r := a.Do(t, "GET", "/api/v1/webhooks", creds[i%3], nil)
		statuses[r.Status]++
		if r.Status == http.StatusTooManyRequests && r.Header.Get("Retry-After") == "" {
			t.Fatal("429 without Retry-After")
		}
	}
	if statuses[401] != 5 || statuses[429] != 7 {
		t.Fatalf("answers %v, want 5×401 then 429", statuses)
	}
	for _, r := range []*apptest.Response{
		a.Do(t, "GET", "/api/v1/webhooks", key, nil),
		a.Do(t, "POST", agentPath, apptest.InternalToken, `{}`),
		a.Do(t, "POST", "/api/v1/organizations", apptest.AdminToken, map[string]string{"name": "x"}),
	} {
		problem(t, r, http.StatusTooManyRequests)
	}
	// The same key from another address (127.0.0.2, still loopback) is let in.
	other := &http.Client{Transport: &http.Transport{DialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}).DialContext}}
	req, _ := http.NewRequest("GET", a.URL+"/api/v1/webhooks", nil)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := other.Do(req)
	testenv.Must(t, err)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("from another address: %d", resp.StatusCode)
	}
}
