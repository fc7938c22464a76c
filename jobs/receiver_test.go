package jobs_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	webhooks "github.com/empfio/webhooks"
	"github.com/empfio/webhooks/internal/testing/apptest"
	"github.com/empfio/webhooks/internal/testing/testenv"
)

// Whatever a receiver answers is input: each answer below is recorded once, as
// storable text, and the delivery reaches a final status after one attempt.
func TestDelivery_HostileAnswersAreRecordedOnce(t *testing.T) {
	hijack := func(w http.ResponseWriter, raw string) {
		conn, buf, err := http.NewResponseController(w).Hijack()
		if err != nil {
			panic(err)
		}
		buf.WriteString(raw)
		buf.Flush()
		conn.Close()
	}
	cases := []struct {
		name       string
		reply      func(w http.ResponseWriter, r *http.Request)
		wantStatus string
		wantCode   int    // 0: no response
		wantText   string // in the response body or the error
	}{
		{"200 with NUL bytes", func(w http.ResponseWriter, _ *http.Request) {
			w.Write([]byte("ok\x00\x00done"))
		}, webhooks.StatusSucceeded, 200, "ok\uFFFD\uFFFDdone"},
		{"500 with invalid UTF-8", func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(500)
			w.Write([]byte{'b', 'a', 'd', 0xff, 0xfe, 0xfd})
		}, webhooks.StatusFailed, 500, "bad\uFFFD"},
		{"a 10 MB body", func(w http.ResponseWriter, _ *http.Request) {
			chunk := []byte(strings.Repeat("z", 64<<10))
			for range 160 {
				if _, err := w.Write(chunk); err != nil {
					return
				}
			}
		}, webhooks.StatusSucceeded, 200, strings.Repeat("z", 100)},
		{"a body trickled byte by byte past the timeout", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(200)
			for range 100 {
				if _, err := w.Write([]byte("t")); err != nil {
					return
				}
				w.(http.Flusher).Flush()
				select {
				case <-r.Context().Done():
					return
				case <-time.After(50 * time.Millisecond):
				}
			}
		}, webhooks.StatusSucceeded, 200, "ttt"},
		{"headers larger than the limit", func(w http.ResponseWriter, _ *http.Request) {
			for i := range 40 {
				w.Header().Set("X-Pad-"+string(rune('a'+i%26))+strings.Repeat("p", i), strings.Repeat("h", 4000))
			}
			w.WriteHeader(200)
		}, webhooks.StatusFailed, 0, "header"},
		{"a connection reset mid-response", func(w http.ResponseWriter, _ *http.Request) {
			hijack(w, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial")
		}, webhooks.StatusSucceeded, 200, "partial"},
		{"garbage instead of HTTP", func(w http.ResponseWriter, _ *http.Request) {
			hijack(w, "\x00\xff\xfeNOT HTTP AT ALL\r\n\r\n")
		}, webhooks.StatusFailed, 0, "malformed"},
	}
	a := apptest.Start(t, apptest.Options{Worker: true, Timeout: time.Second,
		Schedule: webhooks.RetrySchedule{MaxRetries: 0, Window: time.Second}})
	orgID, key := a.Org(t, "Hostile")
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			recv := apptest.NewReceiver(t, func(_ int, w http.ResponseWriter, r *http.Request) {
				if r.Header.Get("X-Empfio-Event") == webhooks.WebhookPing {
					return
				}
				c.reply(w, r)
			})
			// lead.created only: the operational events of the other cases' failures
			// are not this endpoint's.
			hookID, _ := a.Webhook(t, key, recv.URL, "lead.created")
			publish(t, a, orgID, "lead.created", map[string]any{"id": "l1", "channel": "web"})
			d := waitStatus(t, a, hookID, c.wantStatus, 15*time.Second)
			if d.Attempts != 1 || len(recv.Of("lead.created")) != 1 {
				t.Fatalf("%d attempts recorded, %d requests received; want 1 and 1", d.Attempts, len(recv.Of("lead.created")))
			}
			var code *int
			var body, errText *string
			testenv.Must(t, a.DB.Pool().QueryRow(context.Background(),
				`SELECT status_code, response_body, error FROM attempts WHERE delivery_id = $1`, d.ID).Scan(&code, &body, &errText))
			if (code == nil && c.wantCode != 0) || (code != nil && *code != c.wantCode) {
				t.Errorf("status code %v, want %d", code, c.wantCode)
			}
			recorded := deref(body) + " " + deref(errText)
			if !strings.Contains(recorded, c.wantText) {
				t.Errorf("recorded %.200q, want it to contain %q", recorded, c.wantText)
			}
			if len(deref(body)) > webhooks.MaxResponseBody || !utf8.ValidString(recorded) || strings.ContainsRune(recorded, 0) {
				t.Errorf("recorded text is not storable: %d bytes", len(deref(body)))
			}
		})
	}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// The query string of an endpoint URL may carry the receiver's credentials: it is
// never logged and never part of an attempt's error.
func TestDelivery_QueryStringsAreNeverLogged(t *testing.T) {
	logs := &apptest.LogBuffer{}
	a := apptest.Start(t, apptest.Options{Worker: true, LogOutput: logs,
		Schedule: webhooks.RetrySchedule{MaxRetries: 0, Window: time.Second}})
	orgID, key := a.Org(t, "Query")
	recv := apptest.NewReceiver(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Empfio-Event") == webhooks.WebhookPing {
			return
		}
		conn, _, _ := http.NewResponseController(w).Hijack()
		conn.Close() // no answer at all: the client reports an error naming the URL
	})
	hookID, _ := a.Webhook(t, key, recv.URL+"/hooks?token=s3cr3t-t0ken", "*")
	publish(t, a, orgID, "lead.created", map[string]any{"id": "l1", "channel": "web"})
	d := waitStatus(t, a, hookID, webhooks.StatusFailed, 10*time.Second)
	var errText string
	testenv.Must(t, a.DB.Pool().QueryRow(context.Background(), `SELECT error FROM attempts WHERE delivery_id = $1`, d.ID).Scan(&errText))
	testenv.Eventually(t, 5*time.Second, "the failure is logged", func() bool {
		return strings.Contains(logs.String(), "delivery failed")
	})
	if strings.Contains(logs.String(), "s3cr3t") || strings.Contains(errText, "s3cr3t") {
		t.Fatalf("the query string leaked:\nattempt error: %s\nlogs:\n%s", errText, logs.String())
	}
	if errText == "" || !strings.Contains(errText, "closed the connection without an answer") {
		t.Errorf("attempt error %q does not say what happened", errText)
	}
}

// A receiver whose TLS handshake never completes (it accepts and stays silent)
// costs one attempt, ended by the timeout, recorded once; the worker goes on.
func TestDelivery_TLSHandshakeThatNeverCompletesIsRecordedOnce(t *testing.T) {
	silent := testenv.NewSilent(t)
	a := apptest.Start(t, apptest.Options{Worker: true, Timeout: time.Second,
		Schedule: webhooks.RetrySchedule{MaxRetries: 0, Window: time.Second}})
	orgID, key := a.Org(t, "Silent")
	r := a.Do(t, "POST", "/api/v1/webhooks", key, map[string]any{"url": "https://" + silent.Addr + "/hooks", "events": []string{"*"}})
	if r.Status != 201 || r.Map(t)["ping"].(map[string]any)["ok"] != false {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	hookID := r.Map(t)["id"].(string)
	publish(t, a, orgID, "lead.created", map[string]any{"id": "l1", "channel": "web"})
	d := waitStatus(t, a, hookID, webhooks.StatusFailed, 15*time.Second)
	var errText string
	var ms int
	testenv.Must(t, a.DB.Pool().QueryRow(context.Background(), `SELECT error, duration_ms FROM attempts WHERE delivery_id = $1`, d.ID).Scan(&errText, &ms))
	if d.Attempts != 1 || !strings.Contains(errText, "timeout") || ms > 5000 {
		t.Fatalf("%d attempts, error %q after %d ms; want one timeout of about 1 s", d.Attempts, errText, ms)
	}
	// The worker is unharmed: the next delivery, to a live receiver, arrives.
	recv := apptest.NewReceiver(t, apptest.Status(200))
	a.Webhook(t, key, recv.URL, "lead.created")
	publish(t, a, orgID, "lead.created", map[string]any{"id": "l2", "channel": "web"})
	testenv.Eventually(t, 10*time.Second, "a healthy endpoint still gets its delivery", func() bool { return len(recv.Of("lead.created")) == 1 })
}
