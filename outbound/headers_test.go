package outbound_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	webhooks "github.com/empfio/webhooks"
	"github.com/empfio/webhooks/outbound"
	"github.com/empfio/webhooks/verify"
)

func headersMessage() outbound.Message {
	secret := webhooks.SecretPrefix + "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LTAx"
	return outbound.Message{ID: "01a24b9b-bd3e-7060-9594-261442706dd1", EventType: webhooks.LeadCreated,
		Body: []byte(`{"id":"01a24b9b","type":"lead.created","data":{"id":"k1","name":"Jonas Weber"}}`), Secrets: []string{secret},
		Headers: map[string]string{"x-tenant": "acme", "Authorization": "Bearer t"}}
}

// Every attempt carries the custom headers under their canonical names, the
// service's own (which win), and both signatures of its own timestamp.
func TestHeaders_EveryHeaderOfAnAttempt(t *testing.T) {
	m := headersMessage()
	m.Headers["content-type"] = "text/plain" // the service's own win
	now := time.Unix(1_790_000_000, 0)
	h := outbound.NewSender(outbound.SenderConfig{}).Headers(m, now)
	for k, want := range map[string]string{
		"X-Tenant": "acme", "Authorization": "Bearer t", "Content-Type": "application/json",
		verify.HeaderEvent: webhooks.LeadCreated, verify.HeaderDelivery: m.ID, verify.HeaderWebhookID: m.ID,
		verify.HeaderTimestamp: "1790000000", verify.HeaderWebhookTimestamp: "1790000000",
		verify.HeaderSignature:        webhooks.SignBody(m.Secrets, m.Body),
		verify.HeaderWebhookSignature: webhooks.SignStandard(m.Secrets, m.ID, now.Unix(), m.Body),
	} {
		if got := h.Values(k); len(got) != 1 || got[0] != want {
			t.Errorf("%s: %q, want %q", k, got, want)
		}
	}
	for k := range h {
		if k != http.CanonicalHeaderKey(k) {
			t.Errorf("header %q is not in canonical form", k)
		}
	}
	if !strings.HasPrefix(h.Get("User-Agent"), "Empfio") {
		t.Errorf("User-Agent %q", h.Get("User-Agent"))
	}
	if len(h) != 11 {
		t.Errorf("%d headers, want 11: %v", len(h), h)
	}
}

// Headers are built for every attempt.
func BenchmarkHeaders(b *testing.B) {
	s, m, now := outbound.NewSender(outbound.SenderConfig{}), headersMessage(), time.Now()
	for b.Loop() {
		s.Headers(m, now)
	}
}
