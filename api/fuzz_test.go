package api

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	webhooks "github.com/empfio/webhooks"
)

// FuzzAgentEvent feeds arbitrary bodies to the agent event's parsing,
// validation, dedup key and data mapping: no panic, the key of a valid body is
// stable under re-encoding, and the delivered data is valid JSON.
func FuzzAgentEvent(f *testing.F) {
	f.Add([]byte(`{"type":"new_lead","organization_id":"3f6c2a9e-8b1d-4c57-9e2a-71d0b5c4e8f2","data":{"id":"l1","channel":"web"}}`))
	f.Add([]byte(`{"type":"escalation","organization_id":"{3F6C2A9E-8B1D-4C57-9E2A-71D0B5C4E8F2}","event_id":"e","occurred_at":"2026-03-07T10:30:00+01:00","data":{"conversation_id":"c","reason":"r","lead":{"x":1}}}`))
	f.Add([]byte(`{"type":"message_logged","organization_id":"x","data":[1]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var req agentEventRequest
		if json.Unmarshal(body, &req) != nil {
			return
		}
		eventType, data, occurredAt, err := req.validate()
		if err != nil {
			if webhooks.ErrorCode(err) != webhooks.EINVALID {
				t.Fatalf("validate: %v, want EINVALID", err)
			}
			return
		}
		key := req.dedupKey(data)
		again, _ := json.Marshal(data)
		var data2 map[string]json.RawMessage
		if json.Unmarshal(again, &data2) != nil || req.dedupKey(data2) != key {
			t.Fatalf("the dedup key changes when the same data is re-encoded")
		}
		ev := newEvent(req.OrganizationID, eventType, webhooks.SourceAgent, nil, occurredAt)
		ev.Data = webhooks.EventData(eventType, data, ev.OccurredAt)
		if err := ev.RenderEnvelope(); err != nil || !json.Valid(ev.Envelope) {
			t.Fatalf("envelope of %s: %v", body, err)
		}
	})
}

// FuzzCalcomBooking maps arbitrary booking payloads to every booking event's
// data: no panic, always a JSON object.
func FuzzCalcomBooking(f *testing.F) {
	f.Add([]byte(`{"uid":"u1","bookingId":3859127,"startTime":"2026-04-21T10:00:00+02:00","attendees":[{"name":"J"}],"metadata":{"organization_id":"x","videoCallUrl":"https://v"}}`))
	f.Add([]byte(`{"uid":"u2","responses":{"attendeePhoneNumber":{"value":"+49"},"rescheduleReason":{"value":1}},"rescheduleId":12}`))
	fixtures, _ := filepath.Glob("testdata/calcom/*.json") // the real-format bodies as seeds
	for _, path := range fixtures {
		var env calcomEnvelope
		if b, err := os.ReadFile(path); err == nil && json.Unmarshal(b, &env) == nil {
			f.Add([]byte(env.Payload))
		}
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		var b calcomBooking
		if json.Unmarshal(payload, &b) != nil {
			return
		}
		for _, eventType := range calcomEvents {
			out, err := json.Marshal(b.data(eventType, "2026-04-22T06:48:31Z"))
			var m map[string]any
			if err != nil || json.Unmarshal(out, &m) != nil {
				t.Fatalf("%s data of %s: %v", eventType, payload, err)
			}
		}
	})
}
