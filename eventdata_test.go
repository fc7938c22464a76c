package webhooks_test

import (
	"encoding/json"
	"maps"
	"slices"
	"testing"
	"time"

	webhooks "github.com/empfio/webhooks"
)

var occurredAt = time.Date(2026, 3, 7, 10, 30, 0, 0, time.UTC)

func decodeObject(t *testing.T, b []byte) map[string]json.RawMessage {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil || m == nil {
		t.Fatalf("not a JSON object: %v: %s", err, b)
	}
	return m
}

// example returns the catalog's example data of eventType.
func example(t *testing.T, eventType string) json.RawMessage {
	t.Helper()
	for _, e := range webhooks.Catalog {
		if e.Name == eventType {
			return e.Example
		}
	}
	t.Fatalf("%s is not in the catalog", eventType)
	return nil
}

func sortedKeys(m map[string]json.RawMessage) []string {
	return slices.Sorted(maps.Keys(m))
}

// The catalog's example data and the mapping describe the same fields: an example
// rendered through the mapping gains no field and loses none.
func TestAgentData_CatalogExamplesAndMappingAgree(t *testing.T) {
	for agentType, eventType := range webhooks.AgentEventTypes {
		t.Run(agentType, func(t *testing.T) {
			in := decodeObject(t, example(t, eventType))
			out := decodeObject(t, webhooks.EventData(eventType, in, occurredAt))
			if got, want := sortedKeys(out), sortedKeys(in); !slices.Equal(got, want) {
				t.Fatalf("mapping keys %v, example keys %v", got, want)
			}
			// Nothing of the sender is ever empty: the mapping of nothing has the
			// example's keys too.
			empty := decodeObject(t, webhooks.EventData(eventType, map[string]json.RawMessage{}, occurredAt))
			if got, want := sortedKeys(empty), sortedKeys(in); !slices.Equal(got, want) {
				t.Fatalf("mapping of {} has keys %v, want %v", got, want)
			}
		})
	}
}

func TestAgentData_FullBodyIsDeliveredUnchanged(t *testing.T) {
	for _, eventType := range webhooks.AgentEventTypes {
		t.Run(eventType, func(t *testing.T) {
			in := decodeObject(t, example(t, eventType))
			in["x_extra"] = json.RawMessage(`{"keep":[1,2.50,"as sent"]}`)
			out := decodeObject(t, webhooks.EventData(eventType, in, occurredAt.Add(time.Hour)))
			for k, v := range in {
				if !jsonEqual(t, out[k], v) {
					t.Errorf("%s: sent %s, delivered %s", k, v, out[k])
				}
			}
			if string(out["x_extra"]) != `{"keep":[1,2.50,"as sent"]}` {
				t.Errorf("extra field not passed through byte for byte: %s", out["x_extra"])
			}
		})
	}
}

func TestAgentData_DefaultsAndNulls(t *testing.T) {
	out := decodeObject(t, webhooks.EventData(webhooks.LeadCreated, map[string]json.RawMessage{
		"id": json.RawMessage(`"l1"`), "channel": json.RawMessage(`"whatsapp"`),
		"name": json.RawMessage(`"Anna"`), "email": json.RawMessage(`"anna@example.com"`),
	}, occurredAt))
	want := map[string]string{
		"id": `"l1"`, "name": `"Anna"`, "email": `"anna@example.com"`, "phone": `null`, "channel": `"whatsapp"`,
		"status": `"new"`, "created_at": `"2026-03-07T10:30:00Z"`, "channel_id": `null`, "company": `null`,
		"conversation_id": `null`, "metadata": `null`,
	}
	if len(out) != len(want) {
		t.Fatalf("delivered %d fields, want %d: %v", len(out), len(want), sortedKeys(out))
	}
	for k, v := range want {
		if string(out[k]) != v {
			t.Errorf("%s = %s, want %s", k, out[k], v)
		}
	}

	// A status the agent sent is kept; a null default field gets its default.
	out = decodeObject(t, webhooks.EventData(webhooks.LeadCreated, map[string]json.RawMessage{
		"status": json.RawMessage(`"imported"`), "created_at": json.RawMessage(`null`),
	}, occurredAt))
	if string(out["status"]) != `"imported"` || string(out["created_at"]) != `"2026-03-07T10:30:00Z"` {
		t.Errorf("status %s, created_at %s", out["status"], out["created_at"])
	}
}

func TestAgentData_NestedObjectsCarryTheirKnownKeys(t *testing.T) {
	out := decodeObject(t, webhooks.EventData(webhooks.ConversationEscalated, map[string]json.RawMessage{
		"conversation_id": json.RawMessage(`"c1"`), "reason": json.RawMessage(`"angry"`),
		"lead": json.RawMessage(`{"name":"Jonas","tier":"gold"}`),
	}, occurredAt))
	lead := decodeObject(t, out["lead"])
	if got := sortedKeys(lead); !slices.Equal(got, []string{"email", "id", "name", "phone", "tier"}) {
		t.Fatalf("lead keys %v", got)
	}
	if string(lead["name"]) != `"Jonas"` || string(lead["id"]) != "null" || string(lead["tier"]) != `"gold"` {
		t.Fatalf("lead %s", out["lead"])
	}
	if string(out["escalated_at"]) != `"2026-03-07T10:30:00Z"` {
		t.Fatalf("escalated_at %s", out["escalated_at"])
	}

	out = decodeObject(t, webhooks.EventData(webhooks.BookingRequested, map[string]json.RawMessage{}, occurredAt))
	attendee := decodeObject(t, out["attendee"])
	if got := sortedKeys(attendee); !slices.Equal(got, []string{"email", "name", "phone", "time_zone"}) {
		t.Fatalf("attendee of nothing: %s", out["attendee"])
	}
	// Something that is not an object is the agent's to send: kept as sent.
	out = decodeObject(t, webhooks.EventData(webhooks.BookingRequested, map[string]json.RawMessage{"attendee": json.RawMessage(`"Jonas"`)}, occurredAt))
	if string(out["attendee"]) != `"Jonas"` {
		t.Fatalf("attendee %s", out["attendee"])
	}
}

func jsonEqual(t *testing.T, a, b json.RawMessage) bool {
	t.Helper()
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	return string(xa) == string(ya)
}

// The documented fields of agent data are checked for their type: a wrong one
// is a 422 naming the field, never passed on to receivers.
func TestAgentData_DocumentedFieldsAreTypeChecked(t *testing.T) {
	for agentType, eventType := range webhooks.AgentEventTypes {
		if errs := webhooks.ValidateAgentData(agentType, decodeObject(t, example(t, eventType))); len(errs) > 0 {
			t.Errorf("the catalog's example of %s is refused: %v", eventType, errs)
		}
	}
	cases := []struct {
		agentType, data, field string
	}{
		{"new_lead", `{"id":1,"channel":"web"}`, "data.id"},
		{"new_lead", `{"id":"l1","channel":"web","created_at":"notatime"}`, "data.created_at"},
		{"new_lead", `{"id":"l1","channel":"web","metadata":[1]}`, "data.metadata"},
		{"status_update", `{"id":"l1","status":5}`, "data.status"},
		{"booking_request", `{"lead_id":"l1","start_time":"2026-03-10 09:00"}`, "data.start_time"},
		{"booking_request", `{"lead_id":"l1","start_time":"2026-03-10T09:00:00Z","event_type_id":"7"}`, "data.event_type_id"},
		{"booking_request", `{"lead_id":"l1","start_time":"2026-03-10T09:00:00Z","attendee":{"email":5}}`, "data.attendee.email"},
		{"message_logged", `{"conversation_id":"c","role":"robot","content":"hi"}`, "data.role"},
		{"escalation", `{"conversation_id":"c","reason":"x","lead":"l1"}`, "data.lead"},
	}
	for _, c := range cases {
		errs := webhooks.ValidateAgentData(c.agentType, decodeObject(t, []byte(c.data)))
		if len(errs) != 1 || errs[0].Field != c.field {
			t.Errorf("%s %s: %v, want one error on %s", c.agentType, c.data, errs, c.field)
		}
	}
	// null is every known field's "no value", and unknown fields pass as sent.
	if errs := webhooks.ValidateAgentData("new_lead", decodeObject(t, []byte(`{"id":"l1","channel":"web","created_at":null,"metadata":null,"x":[{}]}`))); len(errs) > 0 {
		t.Errorf("nulls and extra fields refused: %v", errs)
	}
}
