package verify_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	webhooks "github.com/empfio/webhooks"
	"github.com/empfio/webhooks/internal/testing/apptest"
	"github.com/empfio/webhooks/internal/testing/testenv"
	"github.com/empfio/webhooks/verify"
)

// procedureReceiver checks every delivery as the README's rotation procedure
// says a receiver does, with the secrets it holds at that moment: the
// published X-Empfio-Signature check and the Standard Webhooks one, each
// against every secret held. It answers 204 when both pass, else 401.
type procedureReceiver struct {
	mu      sync.Mutex
	secrets []string
	ok, bad map[string]int // by event type
}

func (p *procedureReceiver) hold(secrets ...string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.secrets = secrets
}

func (p *procedureReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var buf bytes.Buffer
	buf.ReadFrom(r.Body)
	p.mu.Lock()
	defer p.mu.Unlock()
	event := r.Header.Get(verify.HeaderEvent)
	if verify.VerifyAny(p.secrets, buf.Bytes(), r.Header.Get(verify.HeaderSignature)) &&
		verify.StandardAny(p.secrets, r.Header, buf.Bytes(), 0, time.Now()) == nil {
		p.ok[event]++
		w.WriteHeader(http.StatusNoContent)
		return
	}
	p.bad[event]++
	w.WriteHeader(http.StatusUnauthorized)
}

func (p *procedureReceiver) counts(event string) (ok, bad int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.ok[event], p.bad[event]
}

// rotationApp is an app with one endpoint of a procedureReceiver, and the
// means to publish one event at a time to it.
type rotationApp struct {
	a             *apptest.App
	orgID, key    string
	hookID, first string // the endpoint and its first secret
	recv          *procedureReceiver
}

func newRotationApp(t *testing.T) *rotationApp {
	a := apptest.Start(t, apptest.Options{Worker: true})
	orgID, key := a.Org(t, "Rotation")
	recv := &procedureReceiver{ok: map[string]int{}, bad: map[string]int{}}
	srv := httptest.NewServer(recv)
	t.Cleanup(srv.Close)
	// The receiver holds no secret until it is given one: the ping sent on
	// save is refused, which changes nothing.
	hookID, secret := a.Webhook(t, key, srv.URL, "*")
	recv.hold(secret)
	return &rotationApp{a: a, orgID: orgID, key: key, hookID: hookID, first: secret, recv: recv}
}

// deliverOne publishes an event of type eventType and waits until it is
// delivered: it must succeed at its first attempt.
func (r *rotationApp) deliverOne(t *testing.T, step, eventType string) {
	t.Helper()
	res := r.a.Do(t, "POST", "/api/v1/events", apptest.InternalToken, map[string]any{
		"event": eventType, "organization_id": r.orgID, "data": map[string]any{"id": "l1", "channel": "web", "status": "new"}})
	if res.Status != http.StatusAccepted {
		t.Fatalf("%s: publish: %d %s", step, res.Status, res.Body)
	}
	testenv.Eventually(t, 10*time.Second, step+": the delivery arrives", func() bool {
		ok, bad := r.recv.counts(eventType)
		return ok+bad > 0
	})
	if ok, bad := r.recv.counts(eventType); ok != 1 || bad != 0 {
		t.Fatalf("%s: the receiver verified %d and refused %d deliveries, want 1 and 0", step, ok, bad)
	}
}

func (r *rotationApp) rotate(t *testing.T, grace string) (secret string, previousUntil *time.Time) {
	t.Helper()
	res := r.a.Do(t, "POST", "/api/v1/webhooks/"+r.hookID+"/secret/rotate", r.key, map[string]string{"grace": grace})
	if res.Status != http.StatusOK {
		t.Fatalf("rotate: %d %s", res.Status, res.Body)
	}
	var out struct {
		Secret                  string     `json:"secret"`
		PreviousSecretExpiresAt *time.Time `json:"previous_secret_expires_at"`
	}
	res.JSON(t, &out)
	apptest.Remember(out.Secret)
	return out.Secret, out.PreviousSecretExpiresAt
}

// A receiver that follows the README's procedure — rotate; accept both
// secrets before the grace period ends; keep only the new one after it —
// verifies every delivery through the rotation with both the published
// X-Empfio-Signature check and webhook-signature, and refuses none, however
// long it waits before accepting both.
func TestRotation_AReceiverFollowingTheProcedureMissesNothing(t *testing.T) {
	r := newRotationApp(t)
	r.deliverOne(t, "before the rotation", webhooks.LeadCreated)

	next, until := r.rotate(t, "4s")
	if until == nil {
		t.Fatal("a rotation with a grace period reports no end of it")
	}
	// 1. Rotated; the receiver still holds only the old secret.
	r.deliverOne(t, "rotated, receiver not changed yet", webhooks.LeadStatusChanged)
	// 2. The receiver accepts both secrets.
	r.recv.hold(next, r.first)
	r.deliverOne(t, "receiver accepts both", webhooks.BookingRequested)
	// 3. The grace period ends: only the new secret signs.
	testenv.Eventually(t, 10*time.Second, "the grace period ends", func() bool { return time.Now().After(until.Add(time.Second)) })
	r.deliverOne(t, "grace over, receiver still accepts both", webhooks.MessageLogged)
	// 4. The receiver drops the old secret.
	r.recv.hold(next)
	r.deliverOne(t, "receiver holds the new secret only", webhooks.ConversationEscalated)
}

// A rotation with no grace period (a leaked secret) switches at once: the old
// secret verifies neither header of the next delivery, the new one both.
func TestRotation_NoGraceSwitchesAtOnce(t *testing.T) {
	r := newRotationApp(t)
	next, until := r.rotate(t, "0s")
	if until != nil {
		t.Fatalf("a rotation without grace reports the previous secret signing until %s", until)
	}
	r.recv.hold(r.first)
	res := r.a.Do(t, "POST", "/api/v1/events", apptest.InternalToken, map[string]any{
		"event": webhooks.LeadCreated, "organization_id": r.orgID, "data": map[string]any{"id": "l1", "channel": "web"}})
	if res.Status != http.StatusAccepted {
		t.Fatalf("publish: %d %s", res.Status, res.Body)
	}
	testenv.Eventually(t, 10*time.Second, "the old secret refuses the delivery", func() bool {
		_, bad := r.recv.counts(webhooks.LeadCreated)
		return bad > 0
	})
	if ok, _ := r.recv.counts(webhooks.LeadCreated); ok != 0 {
		t.Fatal("the leaked secret still verified a delivery after a rotation without grace")
	}
	r.recv.hold(next)
	testenv.Eventually(t, 15*time.Second, "its retry verifies with the new secret", func() bool {
		ok, _ := r.recv.counts(webhooks.LeadCreated)
		return ok == 1
	})
}
