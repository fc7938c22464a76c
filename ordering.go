package webhooks

import (
	"bytes"
	"encoding/json"
	"strings"

	"github.com/go-json-experiment/json/jsontext"
)

// MaxOrderingKeyLength bounds an event's ordering key: it is stored and
// indexed with each ordered delivery.
const MaxOrderingKeyLength = 256

// CheckOrderingKey returns a FieldError on field unless key is 1 to
// MaxOrderingKeyLength characters.
func CheckOrderingKey(field, key string) []FieldError {
	if key == "" || len(key) > MaxOrderingKeyLength {
		return []FieldError{{Field: field, Message: "must be 1 to 256 characters"}}
	}
	return nil
}

// DeriveOrderingKey returns the ordering key of an event the agent or Cal.com
// sent, from its data: what the events of one thing share, so that a receiver
// with ordered on sees that thing's events in the order they happened — a
// lead's events (lead.* the lead's id, booking.requested its lead_id), a
// conversation's (message and conversation events its conversation_id), a
// booking's (Cal.com's booking.* the booking's uid). nil when the type has no
// such field or the data leave it empty (the event is not ordered). The key is
// prefixed with what it names, so a lead and a conversation never share one.
func DeriveOrderingKey(eventType string, data json.RawMessage) *string {
	var field, kind string
	switch {
	case strings.HasPrefix(eventType, "lead."):
		field, kind = "id", "lead"
	case eventType == BookingRequested:
		field, kind = "lead_id", "lead"
	case strings.HasPrefix(eventType, "message."), strings.HasPrefix(eventType, "conversation."):
		field, kind = "conversation_id", "conversation"
	case strings.HasPrefix(eventType, "booking."):
		field, kind = "calcom_booking_uid", "booking"
	default:
		return nil
	}
	v, ok := memberString(data, field)
	if !ok || v == "" {
		return nil
	}
	key := kind + ":" + v
	if len(key) > MaxOrderingKeyLength {
		return nil
	}
	return &key
}

// memberString returns the string value of the member name of the JSON object
// data, reading past the members before it without decoding them: false when
// data is not an object, has no such member, or its value is not a string.
func memberString(data []byte, name string) (string, bool) {
	dec := jsontext.NewDecoder(bytes.NewReader(data))
	if tok, err := dec.ReadToken(); err != nil || tok.Kind() != '{' {
		return "", false
	}
	for dec.PeekKind() == '"' {
		key, err := dec.ReadToken()
		if err != nil {
			return "", false
		}
		if key.String() != name {
			if dec.SkipValue() != nil {
				return "", false
			}
			continue
		}
		v, err := dec.ReadToken()
		if err != nil || v.Kind() != '"' {
			return "", false
		}
		return v.String(), true
	}
	return "", false
}
