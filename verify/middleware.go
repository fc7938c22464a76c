package verify

import (
	"bytes"
	"io"
	"net/http"
	"sync"
	"time"
)

// Defaults of the Middleware.
const (
	DefaultMaxBody = 5 << 20        // larger than any envelope Empfio sends
	DefaultSeenFor = 24 * time.Hour // longer than any retry schedule (at most 72 h: set SeenFor)
	DefaultSeenMax = 100_000        // delivery ids remembered at most
)

// Options configure Middleware. Secrets is required: every secret that may
// sign (the current one, and the previous one while a rotation's grace period
// lasts).
type Options struct {
	Secrets   []string
	Tolerance time.Duration // how far webhook-timestamp may be from now; DefaultTolerance when 0
	MaxBody   int64         // largest body read; DefaultMaxBody when 0
	SeenFor   time.Duration // how long a handled delivery id is remembered; DefaultSeenFor when 0
	SeenMax   int           // how many ids are remembered at most (oldest forgotten first); DefaultSeenMax when 0
}

// Middleware verifies each request's Standard Webhooks signature
// (webhook-signature, which covers webhook-id, webhook-timestamp and the body)
// against the secrets and passes it, body intact, to next — once per delivery:
//   - no or a wrong signature: 401, next is not called;
//   - webhook-timestamp further than Tolerance from now: 401 (a captured
//     delivery sent again later);
//   - a body over MaxBody: 413;
//   - a webhook-id next already answered with a 2xx: 200 at once, next is not
//     called (Empfio delivers at least once; this drops the repeats, and a
//     captured delivery sent again within the tolerance);
//   - a webhook-id next is still handling: 409, so Empfio tries again later.
//
// Repeats are recognised by webhook-id, the delivery id the signature covers
// (X-Empfio-Delivery carries the same id, unsigned). A delivery that next
// answers with anything but a 2xx is not remembered: its retry reaches next
// again. Ids are remembered in memory, per process: with several replicas,
// keep the id in your own store too.
func Middleware(o Options, next http.Handler) http.Handler {
	if o.MaxBody <= 0 {
		o.MaxBody = DefaultMaxBody
	}
	seen := &seenSet{ttl: o.SeenFor, max: o.SeenMax, at: map[string]time.Time{}, busy: map[string]bool{}}
	if seen.ttl <= 0 {
		seen.ttl = DefaultSeenFor
	}
	if seen.max <= 0 {
		seen.max = DefaultSeenMax
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, o.MaxBody))
		if err != nil {
			http.Error(w, "body too large or unreadable", http.StatusRequestEntityTooLarge)
			return
		}
		now := time.Now()
		if err := StandardAny(o.Secrets, r.Header, body, o.Tolerance, now); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		id := r.Header.Get(HeaderWebhookID)
		switch seen.claim(id, now) {
		case claimDone:
			w.WriteHeader(http.StatusOK)
			return
		case claimBusy:
			http.Error(w, "this delivery is being handled", http.StatusConflict)
			return
		}
		rec := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		r.Body = io.NopCloser(bytes.NewReader(body))
		defer func() { seen.finish(id, rec.status >= 200 && rec.status < 300, time.Now()) }()
		next.ServeHTTP(rec, r)
	})
}

// statusWriter notes the status next answered.
type statusWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (s *statusWriter) WriteHeader(code int) {
	if !s.wrote {
		s.status, s.wrote = code, true
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	s.wrote = true
	return s.ResponseWriter.Write(b)
}

func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

type claim int

const (
	claimNew claim = iota
	claimDone
	claimBusy
)

// seenSet remembers handled delivery ids for ttl, at most max of them, and
// those being handled.
type seenSet struct {
	mu    sync.Mutex
	ttl   time.Duration
	max   int
	at    map[string]time.Time // handled id → when
	order []seenEntry          // handlings, oldest first
	busy  map[string]bool
}

type seenEntry struct {
	id string
	at time.Time
}

func (s *seenSet) claim(id string, now time.Time) claim {
	s.mu.Lock()
	defer s.mu.Unlock()
	if at, ok := s.at[id]; ok && now.Sub(at) < s.ttl {
		return claimDone
	}
	if s.busy[id] {
		return claimBusy
	}
	s.busy[id] = true
	return claimNew
}

func (s *seenSet) finish(id string, ok bool, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.busy, id)
	if !ok {
		return
	}
	s.at[id] = now
	s.order = append(s.order, seenEntry{id, now})
	for len(s.order) > s.max || len(s.order) > 0 && now.Sub(s.order[0].at) >= s.ttl {
		if old := s.order[0]; s.at[old.id].Equal(old.at) { // a later handling of the id stays
			delete(s.at, old.id)
		}
		s.order = s.order[1:]
	}
}
