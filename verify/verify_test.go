package verify_test

import (
	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	webhooks "github.com/empfio/webhooks"
	"github.com/empfio/webhooks/internal/testing/apptest"
	"github.com/empfio/webhooks/internal/testing/testenv"
	"github.com/empfio/webhooks/verify"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

func TestMain(m *testing.M) { apptest.Main(m) }

// capture is a receiver: the requests it got (before the middleware) and how
// often the wrapped handler ran.
type capture struct {
	mu       sync.Mutex
	requests []*http.Request
	bodies   [][]byte
	handled  atomic.Int64
}

func (c *capture) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get(verify.HeaderEvent) == webhooks.WebhookPing {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		var buf bytes.Buffer
		buf.ReadFrom(r.Body)
		c.mu.Lock()
		c.requests, c.bodies = append(c.requests, r), append(c.bodies, buf.Bytes())
		c.mu.Unlock()
		r.Body = readCloser{bytes.NewReader(buf.Bytes())}
		next.ServeHTTP(w, r)
	})
}

func (c *capture) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.requests)
}

type readCloser struct{ *bytes.Reader }

func (readCloser) Close() error { return nil }

// A real delivery passes Verify, Standard and the Standard Webhooks library,
// reaches the handler once, and its repeat (a manual retry, same delivery id)
// is answered without reaching it again.
func TestMiddleware_RealDeliveryOnceRepeatsDropped(t *testing.T) {
	a := apptest.Start(t, apptest.Options{Worker: true})
	orgID, key := a.Org(t, "Receiver")
	c := &capture{}
	var handlerErr atomic.Value
	// The middleware needs the secret, which creating the endpoint returns (after
	// a ping, answered before the middleware): the handler is set after.
	var handler atomic.Value
	srv := httptest.NewServer(c.wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		handler.Load().(http.Handler).ServeHTTP(w, r)
	})))
	t.Cleanup(srv.Close)
	hookID, s := a.Webhook(t, key, srv.URL, webhooks.LeadCreated)
	handler.Store(verify.Middleware(verify.Options{Secrets: []string{s}}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body := new(bytes.Buffer)
		body.ReadFrom(r.Body)
		if !verify.Verify(s, body.Bytes(), r.Header.Get(verify.HeaderSignature)) {
			handlerErr.Store(errors.New("the handler got a body that does not verify"))
		}
		if err := verify.Standard(s, r.Header, body.Bytes(), 0, time.Now()); err != nil {
			handlerErr.Store(err)
		}
		wh, err := standardwebhooks.NewWebhook(s)
		if err == nil {
			err = wh.Verify(body.Bytes(), r.Header)
		}
		if err != nil {
			handlerErr.Store(err)
		}
		c.handled.Add(1)
		w.WriteHeader(http.StatusNoContent)
	})))

	r := a.Do(t, "POST", "/api/v1/events", apptest.InternalToken, map[string]any{
		"event": webhooks.LeadCreated, "organization_id": orgID, "data": map[string]any{"id": "l1", "channel": "web"}})
	if r.Status != http.StatusAccepted {
		t.Fatalf("publish: %d %s", r.Status, r.Body)
	}
	var deliveryID string
	testenv.Eventually(t, 10*time.Second, "the delivery succeeds", func() bool {
		var list struct{ Data []webhooks.Delivery }
		a.Do(t, "GET", "/api/v1/webhooks/"+hookID+"/deliveries", key, nil).JSON(t, &list)
		if len(list.Data) == 1 && list.Data[0].Status == webhooks.StatusSucceeded {
			deliveryID = list.Data[0].ID
			return true
		}
		return false
	})
	if err, _ := handlerErr.Load().(error); err != nil {
		t.Fatal(err)
	}
	if r := a.Do(t, "POST", "/api/v1/deliveries/"+deliveryID+"/retry", key, nil); r.Status >= 300 {
		t.Fatalf("retry: %d %s", r.Status, r.Body)
	}
	testenv.Eventually(t, 10*time.Second, "the repeat arrives and is answered", func() bool {
		var d webhooks.Delivery
		a.Do(t, "GET", "/api/v1/deliveries/"+deliveryID, key, nil).JSON(t, &d)
		return c.count() == 2 && d.Attempts == 2 && d.Status == webhooks.StatusSucceeded
	})
	if n := c.handled.Load(); n != 1 {
		t.Fatalf("the handler ran %d times for one delivery sent twice", n)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.requests[0].Header.Get(verify.HeaderDelivery) != c.requests[1].Header.Get(verify.HeaderDelivery) {
		t.Fatal("the repeat carried another delivery id")
	}
}

// signed is a delivery as Empfio sends it: body, delivery id id, signed by
// secret at ts.
func signed(secret, id string, body []byte, ts time.Time) *http.Request {
	r := httptest.NewRequest("POST", "/hooks", bytes.NewReader(body))
	r.Header.Set(verify.HeaderSignature, webhooks.Sign(secret, body))
	r.Header.Set(verify.HeaderDelivery, id)
	r.Header.Set(verify.HeaderWebhookID, id)
	r.Header.Set(verify.HeaderWebhookTimestamp, strconv.FormatInt(ts.Unix(), 10))
	r.Header.Set(verify.HeaderWebhookSignature, webhooks.SignStandard([]string{secret}, id, ts.Unix(), body))
	return r
}

// What the middleware answers to bad input, failures and concurrent repeats.
func TestMiddleware_BadInputFailuresAndRepeats(t *testing.T) {
	secret, old := webhooks.NewSecret(), webhooks.NewSecret()
	body := []byte(`{"event":"lead.created"}`)
	now := time.Now()
	var status atomic.Int64
	status.Store(http.StatusOK)
	var calls atomic.Int64
	block := make(chan struct{})
	h := verify.Middleware(verify.Options{Secrets: []string{secret, old}, MaxBody: 64}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		if r.Header.Get("X-Block") != "" {
			<-block
		}
		w.WriteHeader(int(status.Load()))
	}))
	do := func(r *http.Request) int {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w.Code
	}
	unsigned := httptest.NewRequest("POST", "/hooks", bytes.NewReader(body))
	bodyOnly := httptest.NewRequest("POST", "/hooks", bytes.NewReader(body)) // the published header alone
	bodyOnly.Header.Set(verify.HeaderSignature, webhooks.Sign(secret, body))
	forged := signed(webhooks.NewSecret(), "d0", body, now)
	large := signed(secret, "d1", bytes.Repeat([]byte("x"), 65), now)
	stale := signed(secret, "d1", body, now.Add(-10*time.Minute))
	for name, c := range map[string]struct {
		r    *http.Request
		want int
	}{"unsigned": {unsigned, 401}, "X-Empfio-Signature only": {bodyOnly, 401}, "forged": {forged, 401},
		"too large": {large, 413}, "ten minutes old": {stale, 401}} {
		if got := do(c.r); got != c.want {
			t.Errorf("%s: %d, want %d", name, got, c.want)
		}
	}
	if calls.Load() != 0 {
		t.Fatalf("the handler ran %d times for refused requests", calls.Load())
	}
	// The previous secret verifies too (a rotation's grace period).
	if got := do(signed(old, "d2", body, now)); got != 200 || calls.Load() != 1 {
		t.Fatalf("signed with the previous secret: %d, %d calls", got, calls.Load())
	}
	// A captured delivery sent again with a made-up delivery id: the signed
	// id is what counts, so it is a repeat; and a made-up webhook-id breaks
	// the signature.
	again := signed(old, "d2", body, now)
	again.Header.Set(verify.HeaderDelivery, "made-up")
	if got := do(again); got != 200 || calls.Load() != 1 {
		t.Fatalf("replay with another X-Empfio-Delivery: %d, %d calls", got, calls.Load())
	}
	again = signed(old, "d2", body, now)
	again.Header.Set(verify.HeaderWebhookID, "made-up")
	if got := do(again); got != 401 || calls.Load() != 1 {
		t.Fatalf("replay with another webhook-id: %d, %d calls", got, calls.Load())
	}
	// A failure is not remembered: the retry reaches the handler; a success is.
	status.Store(http.StatusInternalServerError)
	if got := do(signed(secret, "d3", body, now)); got != 500 {
		t.Fatalf("failing handler: %d", got)
	}
	status.Store(http.StatusOK)
	for range 3 {
		do(signed(secret, "d3", body, time.Now()))
	}
	if calls.Load() != 3 {
		t.Fatalf("%d calls; want 3 (d2, d3 failing, d3 once more)", calls.Load())
	}
	// A repeat while the first is still handled: 409, so it is retried.
	first := signed(secret, "d4", body, now)
	first.Header.Set("X-Block", "1")
	done := make(chan int)
	go func() { done <- do(first) }()
	testenv.Eventually(t, 5*time.Second, "the first is being handled", func() bool { return calls.Load() == 4 })
	if got := do(signed(secret, "d4", body, now)); got != http.StatusConflict {
		t.Fatalf("repeat during handling: %d", got)
	}
	close(block)
	if got := <-done; got != 200 {
		t.Fatalf("first: %d", got)
	}
	if got := do(signed(secret, "d4", body, now)); got != 200 || calls.Load() != 4 {
		t.Fatalf("repeat after success: %d, %d calls", got, calls.Load())
	}
}

func TestStandard_TimestampSignatureAndRotation(t *testing.T) {
	secret, previous := webhooks.NewSecret(), webhooks.NewSecret()
	body := []byte(`{"id":"e"}`)
	now := time.Date(2026, 3, 7, 10, 0, 0, 0, time.UTC)
	headers := func(ts time.Time, secrets ...string) http.Header {
		h := http.Header{}
		h.Set(verify.HeaderWebhookID, "msg_1")
		h.Set(verify.HeaderWebhookTimestamp, strconv.FormatInt(ts.Unix(), 10))
		h.Set(verify.HeaderWebhookSignature, webhooks.SignStandard(secrets, "msg_1", ts.Unix(), body))
		return h
	}
	cases := []struct {
		name   string
		secret string
		h      http.Header
		body   []byte
		want   error
	}{
		{"valid", secret, headers(now, secret), body, nil},
		{"either secret of a rotation", previous, headers(now, secret, previous), body, nil},
		{"four minutes old", secret, headers(now.Add(-4*time.Minute), secret), body, nil},
		{"six minutes old", secret, headers(now.Add(-6*time.Minute), secret), body, verify.ErrTimestamp},
		{"six minutes ahead", secret, headers(now.Add(6*time.Minute), secret), body, verify.ErrTimestamp},
		{"other secret", webhooks.NewSecret(), headers(now, secret), body, verify.ErrSignature},
		{"changed body", secret, headers(now, secret), []byte(`{"id":"f"}`), verify.ErrSignature},
		{"no headers", secret, http.Header{}, body, verify.ErrMissingHeaders},
	}
	for _, c := range cases {
		if err := verify.Standard(c.secret, c.h, c.body, 0, now); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	// Several secrets: either of a rotation verifies a delivery signed by one.
	if err := verify.StandardAny([]string{webhooks.NewSecret(), previous}, headers(now, previous), body, 0, now); err != nil {
		t.Errorf("StandardAny with the signing secret second: %v", err)
	}
	if err := verify.StandardAny([]string{webhooks.NewSecret(), "not-base64!"}, headers(now, secret), body, 0, now); !errors.Is(err, verify.ErrSignature) {
		t.Errorf("StandardAny without the signing secret: %v", err)
	}
	if !verify.VerifyAny([]string{secret, previous}, body, webhooks.Sign(previous, body)) || verify.VerifyAny([]string{secret}, body, webhooks.Sign(previous, body)) {
		t.Error("VerifyAny must accept a signature of any secret given, and only those")
	}
	if !verify.Verify(secret, body, strings.ToUpper(webhooks.Sign(secret, body))) || verify.Verify(secret, body, "zz") {
		t.Error("Verify: upper-case hex must pass, garbage must not")
	}
}
