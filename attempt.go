package webhooks

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// AttemptResult is what one POST of a delivery got back from the receiver; the
// outbound package makes it. A receiver controls every byte of it, so nothing
// here is stored before SafeText has made it storable.
type AttemptResult struct {
	StartedAt  time.Time
	Duration   time.Duration
	StatusCode int                 // 0 when no response arrived
	Body       []byte              // the start of the response body, at most MaxResponseBody bytes
	Header     map[string][]string // the response's headers (an http.Header)
	RetryAfter time.Duration       // from a 429 or 503 with Retry-After
	Err        error               // no response: timeout, connection, TLS, refused target
}

// OK reports whether the receiver accepted the message (any 2xx).
func (r AttemptResult) OK() bool {
	return r.Err == nil && r.StatusCode >= 200 && r.StatusCode < 300
}

// MaxErrorText bounds the error text kept for an attempt.
const MaxErrorText = 1 << 10

// ErrorText describes a failed attempt for the attempt log, storable as it is;
// nil when the attempt succeeded.
func (r AttemptResult) ErrorText() *string {
	var s string
	switch {
	case r.Err != nil:
		s = r.Err.Error()
	case r.StatusCode >= 300 && r.StatusCode < 400:
		s = fmt.Sprintf("HTTP %d: redirects are not followed", r.StatusCode)
	case !r.OK():
		s = fmt.Sprintf("HTTP %d", r.StatusCode)
	default:
		return nil
	}
	s = SafeText([]byte(s), MaxErrorText)
	return &s
}

// SafeText makes bytes a receiver sent storable and showable: valid UTF-8 (bad
// sequences become U+FFFD), no NUL (Postgres text refuses it; it becomes U+FFFD
// too), and at most max bytes, cut at a character boundary.
func SafeText(b []byte, max int) string {
	s := strings.ToValidUTF8(string(b), "\uFFFD")
	s = strings.ReplaceAll(s, "\x00", "\uFFFD")
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut]
}

// ResponseText is the response body as the attempt log keeps it: SafeText of at
// most MaxResponseBody bytes; nil when empty.
func ResponseText(b []byte) *string {
	if len(b) == 0 {
		return nil
	}
	s := SafeText(b, MaxResponseBody)
	return &s
}

// MaxResponseHeaders bounds the response headers kept for an attempt: names
// and values, counted in bytes.
const MaxResponseHeaders = 4 << 10

// ResponseHeaders are the response headers as the attempt log keeps them: in
// name order, a name's values joined by ", ", each SafeText, every whole header
// that still fits in MaxResponseHeaders (one too large is left out); nil when
// there are none.
func ResponseHeaders(h map[string][]string) map[string]string {
	if len(h) == 0 {
		return nil
	}
	out := make(map[string]string, len(h))
	budget := MaxResponseHeaders
	for _, name := range slices.Sorted(maps.Keys(h)) {
		value := SafeText([]byte(strings.Join(h[name], ", ")), MaxResponseHeaders)
		name = SafeText([]byte(name), MaxResponseHeaders)
		if len(name)+len(value) > budget {
			continue // too large for what is left: the smaller ones after it may fit
		}
		budget -= len(name) + len(value)
		out[name] = value
	}
	return out
}

// statusGone is HTTP's 410 Gone: the receiver says the endpoint is no more.
const statusGone = 410

// Job is everything a worker needs to attempt one delivery.
type Job struct {
	Delivery Delivery
	Manual   bool // a retry or replay asked for by a user: one attempt, then final
	Probe    bool // sent as the probe of its endpoint's open circuit
	Envelope []byte
	Endpoint Endpoint
}

// AttemptRecord is the outcome of one attempt and what it does to the delivery.
type AttemptRecord struct {
	DeliveryID    string
	Attempt       Attempt // Number is assigned when it is recorded
	Status        string  // the delivery's new status
	NextAttemptAt *time.Time
	LastError     *string
	// DisableReason, when set, disables the endpoint (a 410 Gone).
	DisableReason string
}

// Decide turns the result of an attempt of job at now into what is recorded, and,
// for a retry, how long to wait before it:
//   - any 2xx: succeeded;
//   - 410 Gone: failed, and the endpoint is disabled (not a listen session's:
//     its local server's answers do not end it);
//   - a failed probe of an open circuit: held again, for the next probe — a
//     probe spends no retry, so the delivery waits out the outage;
//   - a manual retry or replay, or no retry left in the endpoint's schedule:
//     failed;
//   - otherwise retrying after the schedule's delay, or after the receiver's
//     Retry-After when that is longer — but never past the schedule's window.
func Decide(job *Job, res AttemptResult, schedule RetrySchedule, now time.Time) (AttemptRecord, time.Duration) {
	errText := res.ErrorText()
	rec := AttemptRecord{
		DeliveryID: job.Delivery.ID,
		Attempt: Attempt{
			StartedAt:       res.StartedAt,
			DurationMS:      int(res.Duration / time.Millisecond),
			ResponseBody:    ResponseText(res.Body),
			ResponseHeaders: ResponseHeaders(res.Header),
			Error:           errText,
		},
		LastError: errText,
	}
	if res.StatusCode != 0 {
		code := res.StatusCode
		rec.Attempt.StatusCode = &code
	}
	schedule = schedule.For(&job.Endpoint)
	retry := job.Delivery.Attempts + 1 // the retry that would follow this attempt
	switch {
	case res.OK():
		rec.Status = StatusSucceeded
	case res.StatusCode == statusGone && !job.Endpoint.IsListenSession():
		rec.Status = StatusFailed
		rec.DisableReason = "the endpoint answered 410 Gone"
	case job.Probe:
		rec.Status = StatusHeld
	case job.Manual || retry > schedule.MaxRetries:
		rec.Status = StatusFailed
	default:
		delay := schedule.Delay(retry)
		if res.RetryAfter > delay {
			delay = min(res.RetryAfter, schedule.Window)
		}
		next := now.Add(delay)
		rec.Status, rec.NextAttemptAt = StatusRetrying, &next
		return rec, delay
	}
	return rec, 0
}
