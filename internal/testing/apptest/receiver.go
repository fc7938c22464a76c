package apptest

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// Received is one request a Receiver got.
type Received struct {
	Header http.Header
	Body   []byte
	At     time.Time
}

// Reply is what a Receiver answers to its n-th request (0-based).
type Reply func(n int, w http.ResponseWriter, r *http.Request)

// Status answers every request with code.
func Status(code int) Reply {
	return func(_ int, w http.ResponseWriter, _ *http.Request) { w.WriteHeader(code) }
}

// Receiver is a real HTTP server that records what it receives.
type Receiver struct {
	*httptest.Server
	mu    sync.Mutex
	got   []Received
	reply Reply
}

// NewReceiver starts a plain-HTTP receiver until t ends.
func NewReceiver(t testing.TB, reply Reply) *Receiver {
	r := &Receiver{reply: reply}
	r.Server = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.Close)
	return r
}

// NewTLSReceiver starts an HTTPS receiver until t ends; its Client() trusts it.
func NewTLSReceiver(t testing.TB, reply Reply) *Receiver {
	r := &Receiver{reply: reply}
	r.Server = httptest.NewTLSServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.Close)
	return r
}

func (r *Receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	n := len(r.got)
	r.got = append(r.got, Received{Header: req.Header.Clone(), Body: body, At: time.Now()})
	r.mu.Unlock()
	req.Body = io.NopCloser(bytes.NewReader(body)) // the reply may read it too
	r.reply(n, w, req)
}

// Requests returns what arrived so far.
func (r *Receiver) Requests() []Received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Received(nil), r.got...)
}

// Count returns how many requests arrived.
func (r *Receiver) Count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.got)
}

// Of returns the requests that carry eventType in X-Empfio-Event, in arrival
// order (pings and other events left out).
func (r *Receiver) Of(eventType string) []Received {
	var out []Received
	for _, q := range r.Requests() {
		if q.Header.Get("X-Empfio-Event") == eventType {
			out = append(out, q)
		}
	}
	return out
}

// LogBuffer collects log output written from many goroutines, for tests that
// read what was logged.
type LogBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (b *LogBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	return len(p), nil
}

// String returns everything written so far.
func (b *LogBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}
