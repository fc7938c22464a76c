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

func TestHealthPolicy_DisableReason(t *testing.T) {
	now := time.Date(2026, 3, 7, 10, 0, 0, 0, time.UTC)
	p := webhooks.HealthPolicy{Period: 5 * 24 * time.Hour, Failures: 100}
	cases := []struct {
		name    string
		streak  webhooks.FailureStreak
		disable bool
	}{
		{"no failures", webhooks.FailureStreak{}, false},
		{"a few recent failures", webhooks.FailureStreak{Failures: 3, Since: now.Add(-time.Hour)}, false},
		{"99 in a row", webhooks.FailureStreak{Failures: 99, Since: now.Add(-time.Hour)}, false},
		{"100 in a row", webhooks.FailureStreak{Failures: 100, Since: now.Add(-time.Hour)}, true},
		{"failing for exactly the period", webhooks.FailureStreak{Failures: 2, Since: now.Add(-5 * 24 * time.Hour)}, false},
		{"failing for longer than the period", webhooks.FailureStreak{Failures: 2, Since: now.Add(-5*24*time.Hour - time.Second)}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			reason := p.DisableReason(c.streak, now)
			if (reason != "") != c.disable {
				t.Fatalf("DisableReason = %q, want disable %v", reason, c.disable)
			}
			if c.disable && !strings.Contains(reason, webhooks.FormatTime(c.streak.Since)) {
				t.Errorf("reason %q does not say since when", reason)
			}
		})
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
