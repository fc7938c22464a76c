package webhooks_test

import (
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	webhooks "github.com/empfio/webhooks"
)

func TestDecide(t *testing.T) {
	now := time.Date(2026, 3, 7, 10, 0, 0, 0, time.UTC)
	schedule := webhooks.RetrySchedule{MaxRetries: 3, Window: 7 * time.Minute} // 1m, 2m, 4m
	ownPolicy := &webhooks.RetryPolicy{MaxRetries: 0, Window: webhooks.Duration(time.Hour)}
	cases := []struct {
		name       string
		attempts   int // recorded before this one
		manual     bool
		policy     *webhooks.RetryPolicy
		res        webhooks.AttemptResult
		wantStatus string
		wantDelay  time.Duration
		wantGone   bool
	}{
		{"2xx succeeds", 0, false, nil, webhooks.AttemptResult{StatusCode: 204}, webhooks.StatusSucceeded, 0, false},
		{"a 2xx on the last retry succeeds", 3, false, nil, webhooks.AttemptResult{StatusCode: 200}, webhooks.StatusSucceeded, 0, false},
		{"5xx retries after the first delay", 0, false, nil, webhooks.AttemptResult{StatusCode: 500}, webhooks.StatusRetrying, time.Minute, false},
		{"the third retry waits longest", 2, false, nil, webhooks.AttemptResult{StatusCode: 500}, webhooks.StatusRetrying, 4 * time.Minute, false},
		{"no retry left fails", 3, false, nil, webhooks.AttemptResult{StatusCode: 500}, webhooks.StatusFailed, 0, false},
		{"a connection error retries", 0, false, nil, webhooks.AttemptResult{Err: errors.New("connection refused")}, webhooks.StatusRetrying, time.Minute, false},
		{"a redirect is a failure", 0, false, nil, webhooks.AttemptResult{StatusCode: 302}, webhooks.StatusRetrying, time.Minute, false},
		{"410 fails at once and disables", 0, false, nil, webhooks.AttemptResult{StatusCode: 410}, webhooks.StatusFailed, 0, true},
		{"a manual retry gets one attempt", 0, true, nil, webhooks.AttemptResult{StatusCode: 500}, webhooks.StatusFailed, 0, false},
		{"a manual retry can succeed", 0, true, nil, webhooks.AttemptResult{StatusCode: 200}, webhooks.StatusSucceeded, 0, false},
		{"Retry-After longer than the delay wins", 0, false, nil, webhooks.AttemptResult{StatusCode: 429, RetryAfter: 3 * time.Minute}, webhooks.StatusRetrying, 3 * time.Minute, false},
		{"Retry-After shorter than the delay is ignored", 0, false, nil, webhooks.AttemptResult{StatusCode: 503, RetryAfter: time.Second}, webhooks.StatusRetrying, time.Minute, false},
		{"Retry-After is capped by the window", 0, false, nil, webhooks.AttemptResult{StatusCode: 503, RetryAfter: 24 * time.Hour}, webhooks.StatusRetrying, 7 * time.Minute, false},
		{"an endpoint's own policy of 0 retries fails at once", 0, false, ownPolicy, webhooks.AttemptResult{StatusCode: 500}, webhooks.StatusFailed, 0, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			job := &webhooks.Job{
				Delivery: webhooks.Delivery{ID: "d1", Attempts: c.attempts},
				Manual:   c.manual,
				Endpoint: webhooks.Endpoint{RetryPolicy: c.policy},
			}
			c.res.StartedAt = now
			rec, delay := webhooks.Decide(job, c.res, schedule, now)
			if rec.Status != c.wantStatus || delay != c.wantDelay || (rec.DisableReason != "") != c.wantGone {
				t.Fatalf("got %s after %s (disable %q), want %s after %s (disable %v)",
					rec.Status, delay, rec.DisableReason, c.wantStatus, c.wantDelay, c.wantGone)
			}
			switch {
			case rec.Status == webhooks.StatusRetrying && (rec.NextAttemptAt == nil || !rec.NextAttemptAt.Equal(now.Add(delay))):
				t.Errorf("next_attempt_at %v, want now + %s", rec.NextAttemptAt, delay)
			case rec.Status != webhooks.StatusRetrying && rec.NextAttemptAt != nil:
				t.Errorf("a final delivery has next_attempt_at %v", rec.NextAttemptAt)
			case rec.Status == webhooks.StatusSucceeded && rec.LastError != nil:
				t.Errorf("a success has an error %q", *rec.LastError)
			case rec.Status != webhooks.StatusSucceeded && rec.LastError == nil:
				t.Error("a failure has no error text")
			}
		})
	}
}

func TestBreaker_Rules(t *testing.T) {
	b := webhooks.Breaker{Failures: 10, ProbeInterval: time.Minute, ReleaseRate: 50, DisableAfter: 5 * 24 * time.Hour}
	if got := b.ReleaseRateFor(&webhooks.Endpoint{}); got != 50 {
		t.Errorf("release rate without a rate limit: %d", got)
	}
	if got := b.ReleaseRateFor(&webhooks.Endpoint{RateLimit: &webhooks.RateLimit{PerSecond: 5}}); got != 5 {
		t.Errorf("release rate under a rate limit of 5: %d", got)
	}
	if got := b.ReleaseRateFor(&webhooks.Endpoint{RateLimit: &webhooks.RateLimit{PerSecond: 500}}); got != 50 {
		t.Errorf("release rate under a rate limit of 500: %d", got)
	}
	since := time.Date(2026, 3, 7, 10, 0, 0, 0, time.UTC)
	if r := b.DisableReason(since); !strings.Contains(r, "2026-03-07T10:00:00Z") || !strings.Contains(r, "5 days") {
		t.Errorf("disable reason %q does not say since when", r)
	}
}

func TestDecide_AFailedProbeIsHeldWithoutSpendingARetry(t *testing.T) {
	now := time.Date(2026, 3, 7, 10, 0, 0, 0, time.UTC)
	schedule := webhooks.RetrySchedule{MaxRetries: 3, Window: 30 * time.Minute}
	for _, attempts := range []int{0, 3, 50} {
		job := &webhooks.Job{Delivery: webhooks.Delivery{ID: "d", Attempts: attempts}, Probe: true}
		rec, delay := webhooks.Decide(job, webhooks.AttemptResult{StartedAt: now, StatusCode: 503}, schedule, now)
		if rec.Status != webhooks.StatusHeld || delay != 0 || rec.NextAttemptAt != nil {
			t.Errorf("failed probe after %d attempts: %s, delay %v", attempts, rec.Status, delay)
		}
	}
	job := &webhooks.Job{Delivery: webhooks.Delivery{ID: "d"}, Probe: true}
	if rec, _ := webhooks.Decide(job, webhooks.AttemptResult{StartedAt: now, StatusCode: 410}, schedule, now); rec.Status != webhooks.StatusFailed || rec.DisableReason == "" {
		t.Errorf("a probe answered 410: %s, disable %q", rec.Status, rec.DisableReason)
	}
	if rec, _ := webhooks.Decide(job, webhooks.AttemptResult{StartedAt: now, StatusCode: 204}, schedule, now); rec.Status != webhooks.StatusSucceeded {
		t.Errorf("a probe answered 204: %s", rec.Status)
	}
}

func TestSafeText_AnyBytesBecomeStorableText(t *testing.T) {
	cases := map[string]struct {
		in   []byte
		max  int
		want string
	}{
		"plain":                 {[]byte("ok"), 10, "ok"},
		"NUL":                   {[]byte("a\x00b"), 10, "a\uFFFDb"},
		"invalid UTF-8":         {[]byte{'a', 0xff, 0xfe, 'b'}, 10, "a\uFFFDb"},
		"cut at a rune":         {[]byte("aé"), 2, "a"},
		"replacement is cut":    {[]byte{'a', 'b', 0xff}, 4, "ab"},
		"long body is bounded":  {[]byte(strings.Repeat("x", 5000)), 4096, strings.Repeat("x", 4096)},
		"empty stays empty":     {nil, 10, ""},
		"NUL only":              {[]byte{0, 0}, 6, "\uFFFD\uFFFD"},
		"emoji split by budget": {[]byte("ab😀"), 5, "ab"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			got := webhooks.SafeText(c.in, c.max)
			if got != c.want {
				t.Fatalf("SafeText(%q, %d) = %q, want %q", c.in, c.max, got, c.want)
			}
			if !utf8.ValidString(got) || strings.ContainsRune(got, 0) || len(got) > c.max {
				t.Fatalf("SafeText(%q) = %q is not storable", c.in, got)
			}
		})
	}
	if webhooks.ResponseText(nil) != nil {
		t.Error("an empty body is recorded as null")
	}
}

func TestResponseHeaders_InOrderWithinTheBudget(t *testing.T) {
	if webhooks.ResponseHeaders(nil) != nil {
		t.Fatal("no headers must be nil")
	}
	got := webhooks.ResponseHeaders(map[string][]string{
		"B-Two":   {"x", "y"},
		"A-One":   {"bad\x00byte"},
		"C-Three": {strings.Repeat("v", webhooks.MaxResponseHeaders)},
		"D-Four":  {"late"},
	})
	if got["A-One"] != "bad\uFFFDbyte" || got["B-Two"] != "x, y" {
		t.Fatalf("%q", got)
	}
	if _, ok := got["C-Three"]; ok || len(got) != 3 || got["D-Four"] != "late" {
		t.Fatalf("kept past the budget: %v", got)
	}
}
