package webhooks

import (
	"encoding/json"
	"time"
)

// Delivery statuses. pending and retrying are not final: such a delivery always has
// a live task in the queue, or the sweeper gives it one back. held is not final
// either: its endpoint's circuit is open, and the breaker (not a task) owns it
// until the circuit closes and releases it, or the endpoint is re-enabled.
const (
	StatusPending   = "pending"
	StatusRetrying  = "retrying"
	StatusHeld      = "held"
	StatusSucceeded = "succeeded"
	StatusFailed    = "failed"
)

// OpenStatuses are the statuses of a delivery that is not final: it will be
// attempted (pending, retrying) or released (held). The one list the store's
// statements take (as a parameter), so that none keeps its own.
var OpenStatuses = []string{StatusPending, StatusRetrying, StatusHeld}

// IsFinalStatus reports whether a delivery in status s will not be attempted again
// unless someone asks for it (retry, replay).
func IsFinalStatus(s string) bool { return s == StatusSucceeded || s == StatusFailed }

// Delivery is one event on its way to one endpoint.
type Delivery struct {
	ID             string     `json:"id"`
	OrganizationID string     `json:"organization_id"`
	EventID        string     `json:"event_id"`
	EndpointID     string     `json:"webhook_id"`
	EventType      string     `json:"event_type"`
	Status         string     `json:"status"`
	Attempts       int        `json:"attempts"`
	NextAttemptAt  *time.Time `json:"next_attempt_at"`
	LastStatusCode *int       `json:"last_status_code"`
	LastError      *string    `json:"last_error"`
	CreatedAt      time.Time  `json:"created_at"`
	UpdatedAt      time.Time  `json:"updated_at"`
	CompletedAt    *time.Time `json:"completed_at"`
	// OrderingKey is the key its endpoint orders it by (Endpoint.Ordered);
	// null when it is not ordered.
	OrderingKey *string `json:"ordering_key"`
	// WaitingFor, in a delivery read alone, is the open delivery of the same
	// endpoint and key before it, which it waits for.
	WaitingFor *string   `json:"waiting_for,omitempty"`
	AttemptLog []Attempt `json:"attempt_log,omitempty"`
	Request    *Request  `json:"request,omitempty"` // with the attempt log
}

// Request is what every attempt of a delivery sends: the same method, URL, body
// and headers, but for the per-attempt timestamp and signatures (X-Empfio-Timestamp,
// X-Empfio-Signature, webhook-timestamp, webhook-signature), computed at each
// attempt's start.
type Request struct {
	Method  string            `json:"method"`
	URL     string            `json:"url"`
	Headers map[string]string `json:"headers"`
	Body    json.RawMessage   `json:"body"`
}

// Attempt is one HTTP request of a delivery, as recorded.
type Attempt struct {
	Number       int       `json:"number"`
	StartedAt    time.Time `json:"started_at"`
	DurationMS   int       `json:"duration_ms"`
	StatusCode   *int      `json:"status_code"`
	ResponseBody *string   `json:"response_body"` // at most MaxResponseBody bytes
	// ResponseHeaders are the receiver's answer's headers, up to
	// MaxResponseHeaders (ResponseHeaders); null when no answer came.
	ResponseHeaders map[string]string `json:"response_headers" openapi:"nullable"`
	Error           *string           `json:"error"`
}

// MaxResponseBody is how much of a receiver's answer is read and kept.
const MaxResponseBody = 4 << 10

// DeliveryFilter selects deliveries of one endpoint, newest first.
type DeliveryFilter struct {
	OrganizationID string
	EndpointID     string
	Status         string
	EventType      string
	EventTypes     []string   // nil: any (a limited principal's, Principal.EventTypes)
	EventID        string     // "": any
	Since, Until   *time.Time // created at or after Since, before Until; nil: unbounded
	Cursor         *Cursor
	Limit          int
}

// Cursor marks a position in a list ordered by (created_at, id), newest first.
type Cursor struct {
	CreatedAt time.Time
	ID        string
}

// MaxReplayRange bounds the time range of one replay request.
const MaxReplayRange = 31 * 24 * time.Hour

// ReplayRange selects the failed deliveries of an endpoint created in
// [Since, Until) to send again.
type ReplayRange struct {
	Since *time.Time `json:"since"`
	Until *time.Time `json:"until"` // nil: now
}

// Bounds returns the range at now. Returns EINVALID when Since is missing, not
// before Until, or more than MaxReplayRange before it.
func (r ReplayRange) Bounds(now time.Time) (since, until time.Time, err error) {
	until = now
	if r.Until != nil {
		until = *r.Until
	}
	switch {
	case r.Since == nil:
		return since, until, Invalid(FieldError{"since", "is required (RFC 3339)"})
	case !r.Since.Before(until):
		return since, until, Invalid(FieldError{"since", "must be before until"})
	case until.Sub(*r.Since) > MaxReplayRange:
		return since, until, Invalid(FieldError{"since", "the range must be at most 31 days"})
	}
	return *r.Since, until, nil
}
