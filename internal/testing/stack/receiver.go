package stack

import (
	"cmp"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	webhooks "github.com/empfio/webhooks"
)

// slowAnswer is how long endpoints under /slow/ take to answer.
const slowAnswer = 20 * time.Millisecond

// Receiver is the fast local endpoint every case delivers to. It verifies every
// X-Empfio-Signature, counts each delivery id once (a second arrival is a
// duplicate), and notes when each event's first delivery to each endpoint came.
type Receiver struct {
	srv     *http.Server
	URL     string
	secrets sync.Map // path → secret

	mu       sync.Mutex
	seen     map[string]bool      // delivery ids
	received map[string]time.Time // "<endpoint path>|b<event index>" → first arrival
	order    map[string][]string  // "<endpoint path>|<lead id>" → its events' ids, in the order they first arrived
	dups     atomic.Int64
	badSigs  atomic.Int64
	total    atomic.Int64
	release  chan struct{}
	unhang   sync.Once
}

func NewReceiver() (*Receiver, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r := &Receiver{URL: "http://" + ln.Addr().String(), release: make(chan struct{})}
	r.Reset()
	r.srv = &http.Server{Handler: r, ReadHeaderTimeout: 10 * time.Second}
	go r.srv.Serve(ln)
	return r, nil
}

// Unhang ends every hanging request, and makes endpoints under /hang/ answer
// at once from now on.
func (r *Receiver) Unhang() { r.unhang.Do(func() { close(r.release) }) }

// Reset forgets what arrived, for the next case.
func (r *Receiver) Reset() {
	r.mu.Lock()
	r.seen, r.received, r.order = map[string]bool{}, map[string]time.Time{}, map[string][]string{}
	r.mu.Unlock()
	r.dups.Store(0)
	r.badSigs.Store(0)
	r.total.Store(0)
}

// Expect registers the secret of the endpoint at path.
func (r *Receiver) Expect(path, secret string) { r.secrets.Store(path, secret) }

func (r *Receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	now := time.Now()
	body, err := io.ReadAll(req.Body)
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	if strings.HasPrefix(req.URL.Path, "/slow") {
		time.Sleep(slowAnswer) // keeps deliveries in flight, for the fault suite's kills
	}
	if strings.HasPrefix(req.URL.Path, "/hang/") && req.Header.Get("X-Empfio-Event") != webhooks.WebhookPing {
		select { // a receiver that hangs: the sender's timeout ends the request
		case <-req.Context().Done():
		case <-r.release:
		}
		return
	}
	if req.Header.Get("X-Empfio-Event") == webhooks.WebhookPing {
		w.WriteHeader(http.StatusNoContent) // sent on save, before the secret is known here
		return
	}
	secret, _ := r.secrets.Load(req.URL.Path)
	if s, ok := secret.(string); !ok || !webhooks.Verify(s, body, req.Header.Get("X-Empfio-Signature")) {
		r.badSigs.Add(1)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	w.WriteHeader(http.StatusNoContent)
	r.total.Add(1)
	lead := textAfter(body, `"data":{"id":"`)
	event := cmp.Or(textAfter(body, `"channel_id":"`), lead) // "b<index>"
	r.mu.Lock()
	defer r.mu.Unlock()
	if id := req.Header.Get("X-Empfio-Delivery"); r.seen[id] {
		r.dups.Add(1)
		return
	} else {
		r.seen[id] = true
	}
	key := req.URL.Path + "|" + event
	if _, ok := r.received[key]; !ok {
		r.received[key] = now
		lead := req.URL.Path + "|" + lead
		r.order[lead] = append(r.order[lead], textAfter(body, `{"id":"`))
	}
}

// textAfter finds the string value that follows prefix in an envelope, without
// decoding it all: the event's id after `{"id":"`, its lead's after
// `"data":{"id":"`.
func textAfter(body []byte, prefix string) string {
	s := string(body)
	i := strings.Index(s, prefix)
	if i < 0 {
		return ""
	}
	s = s[i+len(prefix):]
	if j := strings.IndexByte(s, '"'); j >= 0 {
		return s[:j]
	}
	return ""
}

// Inversions counts, over the endpoints whose path begins with prefix, the
// events that first arrived after an event of the same lead (ordering key)
// accepted later — a later UUIDv7 event id. Ordered endpoints must have none.
func (r *Receiver) Inversions(prefix string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for k, ids := range r.order {
		if !strings.HasPrefix(k, prefix) {
			continue
		}
		for i := 1; i < len(ids); i++ {
			if ids[i] < ids[i-1] {
				n++
			}
		}
	}
	return n
}

// Duplicates returns how many deliveries arrived more than once.
func (r *Receiver) Duplicates() int64 { return r.dups.Load() }

// BadSignatures returns how many arrivals failed signature verification.
func (r *Receiver) BadSignatures() int64 { return r.badSigs.Load() }

// Unique returns how many distinct deliveries arrived.
func (r *Receiver) Unique() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.seen)
}

// Arrivals returns the first arrival of each (endpoint, lead index).
func (r *Receiver) Arrivals() map[int][]time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[int][]time.Time{}
	for k, t := range r.received {
		_, lead, _ := strings.Cut(k, "|")
		if i, err := strconv.Atoi(strings.TrimPrefix(lead, "b")); err == nil {
			out[i] = append(out[i], t)
		}
	}
	return out
}
