package webhooks

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// A listen session is how `empfio listen` receives webhooks on a machine that
// cannot take inbound connections: a temporary endpoint whose URL is
// ListenScheme + its own id. Its deliveries are not POSTed anywhere: the worker
// hands each, signed as it would be sent, to the session's stream in Redis; the
// CLI pulls them from the api (server-sent events), forwards each to a local
// URL and reports the local server's answer (ListenResult), which is what the
// attempt records. A user cannot register such a URL (CheckURLSyntax takes
// http and https only).
//
// A session is the CLI's, not the organization's: it is not among the
// organization's webhooks, its failures never open a circuit, disable it or
// publish an operational event, and it goes away within a minute of its stream
// being left unread (a CLI that was killed).
const ListenScheme = "empfio-listen://"

// ListenURL is the URL of the listen session's endpoint id.
func ListenURL(endpointID string) string { return ListenScheme + endpointID }

// ListenSession returns the endpoint id of a listen session's URL.
func ListenSession(url string) (string, bool) {
	return strings.CutPrefix(url, ListenScheme)
}

// IsListenSession reports whether e is a listen session's endpoint.
func (e *Endpoint) IsListenSession() bool { return strings.HasPrefix(e.URL, ListenScheme) }

// ListenDescription is the description of a listen session's endpoint.
const ListenDescription = "empfio listen (temporary)"

// ListenMessage is one delivery handed to a listen session: the request as it
// would be POSTed, and Reply, which the CLI names when it reports the answer.
type ListenMessage struct {
	DeliveryID string            `json:"delivery_id"`
	EventType  string            `json:"event_type"`
	Headers    map[string]string `json:"headers"`
	Body       string            `json:"body"` // the envelope, byte for byte
	Reply      string            `json:"reply"`
}

// ListenResult is what the local server answered a delivery the CLI forwarded.
type ListenResult struct {
	Reply      string `json:"reply"`       // the ListenMessage's
	StatusCode int    `json:"status_code"` // 0: no answer (Error says why)
	DurationMS int    `json:"duration_ms"`
	Body       string `json:"body"` // the start of the answer
	Error      string `json:"error"`
}

// Validate returns EINVALID naming each bad field.
func (r *ListenResult) Validate() error {
	var errs []FieldError
	if r.Reply == "" || len(r.Reply) > 64 {
		errs = append(errs, FieldError{"reply", "is required: the reply of the delivery forwarded"})
	}
	if r.StatusCode != 0 && (r.StatusCode < 100 || r.StatusCode > 599) {
		errs = append(errs, FieldError{"status_code", "must be an HTTP status, or 0 when there was no answer"})
	}
	if r.StatusCode == 0 && r.Error == "" {
		errs = append(errs, FieldError{"error", "is required when there was no answer"})
	}
	if r.DurationMS < 0 {
		errs = append(errs, FieldError{"duration_ms", "must not be negative"})
	}
	if len(errs) > 0 {
		return Invalid(errs...)
	}
	return nil
}

// Attempt turns the result into the attempt's, which began at started.
func (r *ListenResult) Attempt(started time.Time) AttemptResult {
	res := AttemptResult{StartedAt: started, Duration: time.Duration(r.DurationMS) * time.Millisecond,
		StatusCode: r.StatusCode, Body: []byte(SafeText([]byte(r.Body), MaxResponseBody))}
	if r.StatusCode == 0 {
		res.Err = fmt.Errorf("the local server did not answer: %s", SafeText([]byte(r.Error), MaxErrorText))
	}
	return res
}

// Errors of a listen session's attempt.
var (
	ErrNoListener = errors.New("no `empfio listen` is connected to this session")
	ErrNoAnswer   = errors.New("`empfio listen` did not report the local server's answer in time")
)
