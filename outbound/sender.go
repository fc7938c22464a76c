// Package outbound makes every request Empfio sends to a receiver: the signed
// POST of a delivery or ping, through a dialer that refuses private and reserved
// addresses after DNS resolution. The root package keeps the pure URL rules;
// this package holds the network.
package outbound

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"syscall"
	"time"

	webhooks "github.com/empfio/webhooks"
	"github.com/empfio/webhooks/verify"
)

// DefaultTimeout is how long a receiver has to answer (DELIVERY_TIMEOUT).
const DefaultTimeout = 10 * time.Second

// Limits on what a receiver can make a worker read.
const (
	maxResponseHeaderBytes = 64 << 10 // larger header blocks fail the attempt
	drainLimit             = 64 << 10 // read past the kept body so the connection can be reused
)

// SenderConfig configures a Sender.
type SenderConfig struct {
	Timeout   time.Duration // per attempt; DefaultTimeout when zero
	Targets   TargetPolicy  // which addresses may be dialed
	TLSConfig *tls.Config   // nil: the system roots
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
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	tlsConfig := cfg.TLSConfig
	if tlsConfig == nil {
		tlsConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	dialer := &net.Dialer{Timeout: cfg.Timeout, KeepAlive: 30 * time.Second, Control: cfg.Targets.Control}
	transport := &http.Transport{
		Proxy:                  nil,
		DialContext:            dialer.DialContext,
		TLSClientConfig:        tlsConfig,
		TLSHandshakeTimeout:    cfg.Timeout,
		ForceAttemptHTTP2:      true,
		MaxIdleConns:           2048, // many receivers, each with a few warm connections
		MaxIdleConnsPerHost:    64,
		IdleConnTimeout:        90 * time.Second,
		ExpectContinueTimeout:  time.Second,
		ResponseHeaderTimeout:  cfg.Timeout,
		MaxResponseHeaderBytes: maxResponseHeaderBytes,
	}
	return &Sender{
		client: &http.Client{
			Transport:     transport,
			Timeout:       cfg.Timeout,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		timeout:   cfg.Timeout,
		userAgent: "Empfio-Webhooks/" + webhooks.Version(),
	}
}

// Message is one envelope to send to one endpoint.
type Message struct {
	ID        string   // X-Empfio-Delivery and webhook-id: stable across retries
	EventType string   // X-Empfio-Event
	URL       string   // the endpoint
	Secrets   []string // current secret first, then one in its grace period (webhooks.SignBody)
	Body      []byte   // the envelope, identical on every attempt
	// Headers are the endpoint's custom headers (webhooks.Endpoint.Headers):
	// none of them is one the service sets.
	Headers map[string]string
}

// Timeout is how long a receiver has to answer an attempt.
func (s *Sender) Timeout() time.Duration { return s.timeout }

// StableHeaders returns the headers every attempt of m sends alike, its
// custom headers included; the timestamp and signature headers are computed
// at each attempt's start.
func (s *Sender) StableHeaders(m Message) map[string]string {
	h := make(map[string]string, len(m.Headers)+5)
	s.stableHeaders(m, func(k, v string) { h[k] = v })
	return h
}

// stableHeaders calls set with each of m's stable headers: the custom ones,
// then the service's own, which win (though validation keeps them apart).
func (s *Sender) stableHeaders(m Message, set func(k, v string)) {
	for k, v := range m.Headers {
		set(k, v)
	}
	set("Content-Type", "application/json")
	set("User-Agent", s.userAgent)
	set(verify.HeaderEvent, m.EventType)
	set(verify.HeaderDelivery, m.ID)
	set(verify.HeaderWebhookID, m.ID)
}

// Headers returns every header of an attempt of m made at now: the stable
// ones, and the timestamps and signatures of this attempt. It is built once
// per attempt, straight into the request's header.
func (s *Sender) Headers(m Message, now time.Time) http.Header {
	h := make(http.Header, len(m.Headers)+9)
	s.stableHeaders(m, h.Set)
	ts := strconv.FormatInt(now.Unix(), 10)
	h.Set(verify.HeaderSignature, webhooks.SignBody(m.Secrets, m.Body))
	h.Set(verify.HeaderTimestamp, ts)
	h.Set(verify.HeaderWebhookTimestamp, ts)
	h.Set(verify.HeaderWebhookSignature, webhooks.SignStandard(m.Secrets, m.ID, now.Unix(), m.Body))
	return h
}

// Send POSTs m with every Empfio and Standard Webhooks header, within the timeout
// and ctx. It never returns an error: failures are in the result. Whatever the
// receiver answers, at whatever speed, costs at most the timeout, the header
// limit and MaxResponseBody plus drainLimit bytes of reading.
func (s *Sender) Send(ctx context.Context, m Message) webhooks.AttemptResult {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	res := webhooks.AttemptResult{StartedAt: time.Now()}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, m.URL, bytes.NewReader(m.Body))
	if err != nil {
		res.Err = fmt.Errorf("bad endpoint URL: %w", err)
		return res
	}
	req.Header = s.Headers(m, res.StartedAt)

	resp, err := s.client.Do(req)
	if err != nil {
		res.Duration = time.Since(res.StartedAt)
		res.Err = describe(err, s.timeout)
		return res
	}
	defer resp.Body.Close()
	res.StatusCode, res.Header = resp.StatusCode, resp.Header
	// A body that fails half way (reset, timeout) still gives its status code
	// and what arrived: the receiver answered.
	res.Body, _ = io.ReadAll(io.LimitReader(resp.Body, webhooks.MaxResponseBody))
	io.CopyN(io.Discard, resp.Body, drainLimit) // let the connection be reused
	res.Duration = time.Since(res.StartedAt)
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
		res.RetryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
	}
	return res
}

// describe turns a transport error into a short reason a customer can act on.
// It names neither the URL (a query string may carry the receiver's
// credentials) nor any address of ours: the resolver a lookup asked, the
// worker's own address of a connection. The reason is logged and shown.
func describe(err error, timeout time.Duration) error {
	var dnsErr *net.DNSError
	var netErr net.Error
	var certErr *tls.CertificateVerificationError
	var recordErr tls.RecordHeaderError
	var opErr *net.OpError
	switch {
	case errors.Is(err, ErrForbiddenTarget):
		return ErrForbiddenTarget
	case errors.As(err, &dnsErr) && dnsErr.IsTimeout:
		return errors.New("the host name could not be looked up in time")
	case errors.As(err, &dnsErr):
		return errors.New("the host does not resolve")
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return fmt.Errorf("timeout: no answer within %s", timeout)
	case errors.Is(err, syscall.ECONNREFUSED):
		return errors.New("connection refused: nothing listens at that address and port")
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return errors.New("the receiver reset the connection")
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return errors.New("the host is unreachable")
	case errors.As(err, &certErr):
		return fmt.Errorf("TLS: the receiver's certificate is not valid: %v", certErr.Err)
	case errors.As(err, &recordErr):
		return errors.New("TLS: the receiver did not answer with TLS (an http:// server on an https:// URL?)")
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return errors.New("the receiver closed the connection without an answer")
	case errors.As(err, &opErr):
		// "read tcp 10.0.0.5:51234->…": the addresses are left out.
		return fmt.Errorf("connection failed: %v", opErr.Err)
	}
	var urlErr *url.Error
	if errors.As(err, &urlErr) {
		return urlErr.Err
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
