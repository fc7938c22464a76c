package jobs

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	webhooks "github.com/empfio/webhooks"
)

// Header names of an outbound delivery.
const (
	HeaderSignature = "X-Empfio-Signature"
	HeaderEvent     = "X-Empfio-Event"
	HeaderDelivery  = "X-Empfio-Delivery"
	HeaderTimestamp = "X-Empfio-Timestamp"
)

// Version is reported in the User-Agent of every delivery.
var Version = "1.0.0"

// DefaultTimeout is how long a receiver has to answer (DELIVERY_TIMEOUT).
const DefaultTimeout = 10 * time.Second

// SenderConfig configures a Sender.
type SenderConfig struct {
	Timeout   time.Duration         // per attempt; DefaultTimeout when zero
	Targets   webhooks.TargetPolicy // which addresses may be dialed
	TLSConfig *tls.Config           // nil: the system roots
}

// Sender signs and POSTs envelopes. Real deliveries and test pings both go through
// it. It is safe for concurrent use and keeps connections alive across deliveries.
type Sender struct {
	client    *http.Client
	timeout   time.Duration
	userAgent string
}

// NewSender returns a Sender: redirects are not followed, the dialer refuses
// forbidden addresses after DNS resolution, and no proxy is ever used.
func NewSender(cfg SenderConfig) *Sender {
	cfg.Timeout = orDefault(cfg.Timeout, DefaultTimeout)
	tlsConfig := cfg.TLSConfig
	if tlsConfig == nil {
		tlsConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	dialer := &net.Dialer{Timeout: cfg.Timeout, KeepAlive: 30 * time.Second, Control: cfg.Targets.Control}
	transport := &http.Transport{
		Proxy:                 nil,
		DialContext:           dialer.DialContext,
		TLSClientConfig:       tlsConfig,
		TLSHandshakeTimeout:   cfg.Timeout,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          2048, // many receivers, each with a few warm connections
		MaxIdleConnsPerHost:   64,
		IdleConnTimeout:       90 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
	return &Sender{
		client: &http.Client{
			Transport:     transport,
			Timeout:       cfg.Timeout,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		timeout:   cfg.Timeout,
		userAgent: "Empfio-Webhooks/" + Version,
	}
}

// Message is one envelope to send to one endpoint.
type Message struct {
	ID        string   // X-Empfio-Delivery and webhook-id: stable across retries
	EventType string   // X-Empfio-Event
	URL       string   // the endpoint
	Secrets   []string // current secret first, then one in its grace period
	Body      []byte   // the envelope, identical on every attempt
}

// Result is what one attempt got back.
type Result struct {
	StartedAt  time.Time
	Duration   time.Duration
	StatusCode int           // 0 when no response arrived
	Body       []byte        // at most webhooks.MaxResponseBody bytes
	RetryAfter time.Duration // from a 429 or 503 with Retry-After
	Err        error         // no response: timeout, connection, TLS, refused target
}

// OK reports whether the receiver accepted the message (any 2xx).
func (r Result) OK() bool { return r.Err == nil && r.StatusCode >= 200 && r.StatusCode < 300 }

// ErrorText describes a failed attempt for the attempt log.
func (r Result) ErrorText() *string {
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
	return &s
}

// Send POSTs m with every Empfio and Standard Webhooks header, within the timeout
// and ctx. It never returns an error: failures are in the Result.
func (s *Sender) Send(ctx context.Context, m Message) Result {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	res := Result{StartedAt: time.Now()}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, m.URL, bytes.NewReader(m.Body))
	if err != nil {
		res.Err = fmt.Errorf("bad endpoint URL: %w", err)
		return res
	}
	ts := res.StartedAt.Unix()
	h := req.Header
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", s.userAgent)
	h.Set(HeaderSignature, webhooks.Sign(m.Secrets[0], m.Body))
	h.Set(HeaderEvent, m.EventType)
	h.Set(HeaderDelivery, m.ID)
	h.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
	h.Set("webhook-id", m.ID)
	h.Set("webhook-timestamp", strconv.FormatInt(ts, 10))
	h.Set("webhook-signature", webhooks.SignStandard(m.Secrets, m.ID, ts, m.Body))

	resp, err := s.client.Do(req)
	if err != nil {
		res.Duration = time.Since(res.StartedAt)
		res.Err = describe(err, s.timeout)
		return res
	}
	defer resp.Body.Close()
	res.StatusCode = resp.StatusCode
	res.Body, _ = io.ReadAll(io.LimitReader(resp.Body, webhooks.MaxResponseBody))
	io.CopyN(io.Discard, resp.Body, 64<<10) // let the connection be reused
	res.Duration = time.Since(res.StartedAt)
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
		res.RetryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
	}
	return res
}

// describe turns a transport error into a short, user-facing reason.
func describe(err error, timeout time.Duration) error {
	var netErr net.Error
	switch {
	case errors.Is(err, webhooks.ErrForbiddenTarget):
		return webhooks.ErrForbiddenTarget
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return fmt.Errorf("timeout: no answer within %s", timeout)
	}
	return err
}

// parseRetryAfter reads delta-seconds or an HTTP date; 0 when absent or bad.
func parseRetryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if secs, err := strconv.Atoi(v); err == nil && secs > 0 {
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// BodyText returns a response body as valid UTF-8 for the attempt log; nil when empty.
func BodyText(b []byte) *string {
	if len(b) == 0 {
		return nil
	}
	s := string(b)
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	return &s
}
