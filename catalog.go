package webhooks

import (
	"encoding/json"
	"slices"
	"sort"
	"strings"
)

// Event types delivered to endpoints. The five marked published appear in Empfio's
// public docs: their names and data fields are a promise and never change.
const (
	LeadCreated           = "lead.created"           // published
	LeadStatusChanged     = "lead.status_changed"    // published
	BookingRequested      = "booking.requested"      //
	MessageLogged         = "message.logged"         //
	ConversationEscalated = "conversation.escalated" // published
	BookingCreated        = "booking.created"        // published
	BookingRescheduled    = "booking.rescheduled"    //
	BookingCancelled      = "booking.cancelled"      // published
	WebhookPing           = "webhook.ping"           // sent to one endpoint only
	WebhookDisabled       = "webhook.disabled"       // operational: about an endpoint
	DeliveryFailed        = "delivery.failed"        // operational: about a delivery
	WebhookCircuitOpened  = "webhook.circuit_opened" // operational: about an endpoint
	WebhookCircuitClosed  = "webhook.circuit_closed" // operational: about an endpoint
)

// EventType describes one entry of the catalog served by GET /event-types.
type EventType struct {
	Name        string          `json:"name"`
	Description string          `json:"description"`
	Published   bool            `json:"published"`
	Example     json.RawMessage `json:"example_data"`
}

// Catalog lists every event type an endpoint can subscribe to, in a stable order.
var Catalog = []EventType{
	{LeadCreated, "A conversation produced a new lead.", true, json.RawMessage(`{"id":"7d444840-9dc0-11d1-b245-5ffdce74fad2","name":"Jonas Weber","email":"jonas.weber@example.com","phone":"+4915123456789","channel":"whatsapp","status":"new","created_at":"2026-03-07T10:30:00Z","channel_id":null,"company":null,"conversation_id":"c1a2b3c4-0000-4000-8000-000000000001","metadata":{}}`)},
	{LeadStatusChanged, "A lead moved to another status.", true, json.RawMessage(`{"id":"7d444840-9dc0-11d1-b245-5ffdce74fad2","previous_status":"new","status":"qualified","name":"Jonas Weber","email":"jonas.weber@example.com","phone":"+4915123456789","conversation_id":"c1a2b3c4-0000-4000-8000-000000000001","updated_at":"2026-03-07T10:35:00Z"}`)},
	{BookingRequested, "The agent asked for an appointment on a lead's behalf.", false, json.RawMessage(`{"lead_id":"7d444840-9dc0-11d1-b245-5ffdce74fad2","conversation_id":"c1a2b3c4-0000-4000-8000-000000000001","service":"Erstberatung","start_time":"2026-03-10T09:00:00Z","end_time":"2026-03-10T09:30:00Z","event_type_id":1192734,"attendee":{"name":"Jonas Weber","email":"jonas.weber@example.com","phone":"+4915123456789","time_zone":"Europe/Berlin"},"notes":null,"channel":"whatsapp","requested_at":"2026-03-07T10:40:00Z"}`)},
	{MessageLogged, "A message of a conversation was recorded.", false, json.RawMessage(`{"id":"0b7f6a52-1c1e-4c3a-9d55-0c7f1a2b3c4d","conversation_id":"c1a2b3c4-0000-4000-8000-000000000001","lead_id":"7d444840-9dc0-11d1-b245-5ffdce74fad2","role":"user","content":"Hallo, ich brauche Hilfe bei meiner Steuererklärung.","channel":"whatsapp","created_at":"2026-03-07T10:29:00Z","metadata":{}}`)},
	{ConversationEscalated, "A conversation needs a human.", true, json.RawMessage(`{"conversation_id":"c1a2b3c4-0000-4000-8000-000000000001","lead_id":"7d444840-9dc0-11d1-b245-5ffdce74fad2","channel":"whatsapp","reason":"customer_request","summary":"Wants to speak to an advisor about a tax notice.","escalated_at":"2026-03-07T10:45:00Z","lead":{"id":"7d444840-9dc0-11d1-b245-5ffdce74fad2","name":"Jonas Weber","email":"jonas.weber@example.com","phone":"+4915123456789"},"last_message_preview":"Kann ich bitte mit jemandem sprechen?"}`)},
	{BookingCreated, "A booking was made in Cal.com.", true, json.RawMessage(`{"id":"9a6b2a55-3a8e-5d1c-8f0e-2b9c7d4e1f30","lead_id":null,"start_time":"2026-04-21T08:00:00Z","end_time":"2026-04-21T08:30:00Z","service":"Erstberatung","calcom_booking_id":3859127,"calcom_booking_uid":"u7Xq2KcVnR9wHt4LmYp3sD","event_type_id":1192734,"status":"confirmed","meeting_url":"https://app.cal.com/video/u7Xq2KcVnR9wHt4LmYp3sD","location":"integrations:daily","attendee":{"name":"Jonas Weber","email":"jonas.weber@example.com","phone":"+4915123456789","time_zone":"Europe/Berlin"},"organizer":{"name":"Miriam Albers","email":"kanzlei@albers-steuerberatung.example"},"notes":null}`)},
	{BookingRescheduled, "A Cal.com booking was moved; the data describe the new booking.", false, json.RawMessage(`{"id":"2f1e0d9c-8b7a-5c6d-9e0f-1a2b3c4d5e6f","lead_id":null,"start_time":"2026-04-23T12:00:00Z","end_time":"2026-04-23T12:30:00Z","service":"Erstberatung","calcom_booking_id":3862410,"calcom_booking_uid":"Hk3vPz8QwT2nLr6YbF9xMa","event_type_id":1192734,"status":"confirmed","meeting_url":null,"location":"integrations:daily","attendee":{"name":"Jonas Weber","email":"jonas.weber@example.com","phone":"+4915123456789","time_zone":"Europe/Berlin"},"organizer":{"name":"Miriam Albers","email":"kanzlei@albers-steuerberatung.example"},"notes":null,"previous_start_time":"2026-04-21T08:00:00Z","previous_end_time":"2026-04-21T08:30:00Z","previous_calcom_booking_id":3859127,"previous_calcom_booking_uid":"u7Xq2KcVnR9wHt4LmYp3sD","rescheduled_by":"jonas.weber@example.com","reschedule_reason":null}`)},
	{BookingCancelled, "A Cal.com booking was cancelled.", true, json.RawMessage(`{"id":"2f1e0d9c-8b7a-5c6d-9e0f-1a2b3c4d5e6f","lead_id":null,"start_time":"2026-04-23T12:00:00Z","end_time":"2026-04-23T12:30:00Z","cancelled_at":"2026-04-22T06:48:31Z","calcom_booking_id":3862410,"calcom_booking_uid":"Hk3vPz8QwT2nLr6YbF9xMa","status":"cancelled","cancellation_reason":null,"cancelled_by":"jonas.weber@example.com","reschedule_requested":false}`)},
	{WebhookPing, "A test message sent when an endpoint is saved or tested; never fanned out.", false, json.RawMessage(`{"webhook_id":"5b1d2c3e-4f50-4a6b-8c7d-9e0f1a2b3c4d","message":"This is a test delivery from Empfio Webhooks."}`)},
	{WebhookDisabled, "One of the organization's endpoints was disabled: it answered 410 Gone, its deliveries kept failing for days, or a user turned it off. Never sent to that endpoint.", false, json.RawMessage(`{"webhook_id":"5b1d2c3e-4f50-4a6b-8c7d-9e0f1a2b3c4d","url":"https://crm.example.com/hooks/empfio","reason":"the endpoint answered 410 Gone","disabled_at":"2026-03-07T11:02:13Z"}`)},
	{DeliveryFailed, "A delivery failed for good: its retries are spent. Never sent to the endpoint it was for, and never about another delivery.failed.", false, json.RawMessage(`{"delivery_id":"0f8e7d6c-5b4a-4938-a7b6-c5d4e3f2a1b0","webhook_id":"5b1d2c3e-4f50-4a6b-8c7d-9e0f1a2b3c4d","event_id":"9c8b7a6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d","event_type":"lead.created","attempts":4,"last_status_code":503,"last_error":"HTTP 503","failed_at":"2026-03-07T11:00:41Z"}`)},
	{WebhookCircuitOpened, "One of the organization's endpoints failed so many times in a row that its circuit opened: its deliveries are held, spending no attempts, and one probe is sent now and then. Never sent to that endpoint.", false, json.RawMessage(`{"webhook_id":"5b1d2c3e-4f50-4a6b-8c7d-9e0f1a2b3c4d","url":"https://crm.example.com/hooks/empfio","consecutive_failures":10,"last_status_code":503,"last_error":"HTTP 503","opened_at":"2026-03-07T11:00:41Z","next_probe_at":"2026-03-07T11:01:41Z"}`)},
	{WebhookCircuitClosed, "A probe to an endpoint whose circuit was open succeeded: the circuit closed, and what was held is being sent in its original order. Never sent to that endpoint.", false, json.RawMessage(`{"webhook_id":"5b1d2c3e-4f50-4a6b-8c7d-9e0f1a2b3c4d","url":"https://crm.example.com/hooks/empfio","opened_at":"2026-03-07T11:00:41Z","closed_at":"2026-03-07T11:08:41Z","held":42}`)},
}

// IsEventType reports whether name is a type of the catalog.
func IsEventType(name string) bool {
	_, ok := LookupEventType(name)
	return ok
}

// LookupEventType returns the catalog's entry for name.
func LookupEventType(name string) (EventType, bool) {
	for _, t := range Catalog {
		if t.Name == name {
			return t, true
		}
	}
	return EventType{}, false
}

// ValidSubscription reports whether s may appear in an endpoint's events: an exact
// type, "*", or "prefix.*" where some type starts with "prefix.". webhook.ping is not
// subscribable: it is only ever sent to one endpoint on purpose.
func ValidSubscription(s string) bool {
	if s == "*" {
		return true
	}
	if prefix, ok := strings.CutSuffix(s, ".*"); ok {
		for _, t := range Catalog {
			if t.Name != WebhookPing && strings.HasPrefix(t.Name, prefix+".") {
				return true
			}
		}
		return false
	}
	return s != WebhookPing && IsEventType(s)
}

// AllSubscriptions returns every valid subscription: "*", each "prefix.*",
// and each subscribable type.
func AllSubscriptions() []string {
	out := []string{"*"}
	for _, t := range Catalog {
		if t.Name == WebhookPing {
			continue
		}
		if i := strings.IndexByte(t.Name, '.'); i > 0 && !slices.Contains(out, t.Name[:i]+".*") {
			out = append(out, t.Name[:i]+".*")
		}
		out = append(out, t.Name)
	}
	return out
}

// SubscriptionKeys returns the subscription entries that select eventType: itself,
// "*" and "prefix.*". store matches an endpoint when its events overlap these.
func SubscriptionKeys(eventType string) []string {
	keys := []string{eventType, "*"}
	if i := strings.IndexByte(eventType, '.'); i > 0 {
		keys = append(keys, eventType[:i]+".*")
	}
	return keys
}

// AgentEventTypes maps the agent's inbound types to outbound event types.
var AgentEventTypes = map[string]string{
	"new_lead":        LeadCreated,
	"status_update":   LeadStatusChanged,
	"booking_request": BookingRequested,
	"message_logged":  MessageLogged,
	"escalation":      ConversationEscalated,
}

// agentRequired lists the data fields each agent type must carry (docs/events.md).
var agentRequired = map[string][]string{
	"new_lead":        {"id", "channel"},
	"status_update":   {"id", "status"},
	"booking_request": {"lead_id", "start_time"},
	"message_logged":  {"conversation_id", "role", "content"},
	"escalation":      {"conversation_id", "reason"},
}

// AgentTypeNames returns the agent types in sorted order, for error messages.
func AgentTypeNames() []string {
	names := make([]string, 0, len(AgentEventTypes))
	for n := range AgentEventTypes {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// ValidateAgentData returns one FieldError per required field of agentType that is
// missing or null in data, and per known field of another type than documented
// (ValidateEventData).
func ValidateAgentData(agentType string, data map[string]json.RawMessage) []FieldError {
	var errs []FieldError
	for _, f := range agentRequired[agentType] {
		if v, ok := data[f]; !ok || string(v) == "null" {
			errs = append(errs, FieldError{"data." + f, "is required for " + agentType})
		}
	}
	return append(errs, ValidateEventData(AgentEventTypes[agentType], data)...)
}
