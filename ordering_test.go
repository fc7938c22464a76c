package webhooks

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestDeriveOrderingKey(t *testing.T) {
	long := strings.Repeat("x", MaxOrderingKeyLength)
	for _, tc := range []struct {
		event, data string
		want        string // "" for none
	}{
		{LeadCreated, `{"id":"L1","conversation_id":"C1"}`, "lead:L1"},
		{LeadStatusChanged, `{"id":"L1"}`, "lead:L1"},
		{BookingRequested, `{"lead_id":"L1","conversation_id":"C1"}`, "lead:L1"},
		{MessageLogged, `{"id":"M1","conversation_id":"C1","lead_id":"L1"}`, "conversation:C1"},
		{ConversationEscalated, `{"conversation_id":"C1","lead_id":"L1"}`, "conversation:C1"},
		{BookingCreated, `{"id":"B1","calcom_booking_uid":"U1"}`, "booking:U1"},
		{BookingCancelled, `{"calcom_booking_uid":"U1"}`, "booking:U1"},
		{LeadCreated, `{"id":null}`, ""},
		{LeadCreated, `{"id":""}`, ""},
		{LeadCreated, `{"id":7}`, ""},
		{LeadCreated, `{"id":"` + long + `"}`, ""}, // past the bound with its prefix: not ordered rather than cut
		{BookingRequested, `{"lead_id":null}`, ""},
		{DeliveryFailed, `{"delivery_id":"D1"}`, ""},
		{LeadCreated, `not json`, ""},
		{LeadCreated, `{"source":{"id":"X"},"tags":["id"],"id":"L1"}`, "lead:L1"}, // a nested "id" is not the lead's
		{LeadCreated, `{"\u0069d":"L1"}`, "lead:L1"},                              // names compare unescaped
		{LeadCreated, `{"ID":"L1"}`, ""},                                          // and exactly
		{LeadCreated, `{}`, ""},
		{LeadCreated, `["id","L1"]`, ""},
	} {
		got := DeriveOrderingKey(tc.event, json.RawMessage(tc.data))
		switch {
		case tc.want == "" && got != nil:
			t.Errorf("%s %s: key %q, want none", tc.event, tc.data, *got)
		case tc.want != "" && (got == nil || *got != tc.want):
			t.Errorf("%s %s: key %v, want %q", tc.event, tc.data, got, tc.want)
		}
	}
}

func TestCheckOrderingKey(t *testing.T) {
	for key, ok := range map[string]bool{"a": true, strings.Repeat("k", 256): true, "": false, strings.Repeat("k", 257): false} {
		if errs := CheckOrderingKey("ordering_key", key); (len(errs) == 0) != ok {
			t.Errorf("key of %d chars: errors %v, want ok=%v", len(key), errs, ok)
		}
	}
}

// The ordering key is derived from every inbound event's data: reading one
// field must not cost a decoding of all of them.
func BenchmarkDeriveOrderingKey(b *testing.B) {
	data := json.RawMessage(`{"id":"k123456","channel_id":"b42","channel":"whatsapp","name":"Jonas Weber","email":"jonas.weber@example.com",` +
		`"phone":null,"conversation_id":"c-9f2","source":{"utm_source":"newsletter","utm_campaign":"winter","referrer":"https://example.com/a"},` +
		`"notes":"Wants a call back after five, about the annual plan and the onboarding of a team of twelve."}`)
	for b.Loop() {
		if DeriveOrderingKey(LeadCreated, data) == nil {
			b.Fatal("no key")
		}
	}
}
