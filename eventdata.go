package webhooks

import (
	"bytes"
	"encoding/json"
	"sort"
	"time"
)

// A dataField is one known field of an event's data (docs/events.md). Every known
// field is present in the delivered data: null when the sender gave no value,
// unless the field has a default.
type dataField struct {
	name string
	// def is the documented default for a missing or null value; nil means null.
	def func(occurredAt time.Time) any
	// keys are the known keys of a nested object: the field is always an object
	// carrying each of them (null when unknown).
	keys []string
}

func field(name string) dataField { return dataField{name: name} }

// object is a nested object field with its known keys.
func object(name string, keys ...string) dataField { return dataField{name: name, keys: keys} }

// occurred defaults a time field to when the event occurred.
func occurred(name string) dataField {
	return dataField{name: name, def: func(t time.Time) any { return FormatTime(t) }}
}

// constant defaults a field to v.
func constant(name string, v any) dataField {
	return dataField{name: name, def: func(time.Time) any { return v }}
}

var person = []string{"name", "email", "phone", "time_zone"}

// eventData lists, for each event the agent produces, every field of its data
// in the order receivers see them: one table per event, as in docs/events.md.
var eventData = map[string][]dataField{
	LeadCreated: {
		field("id"), field("name"), field("email"), field("phone"), field("channel"),
		constant("status", "new"), occurred("created_at"),
		field("channel_id"), field("company"), field("conversation_id"), field("metadata"),
	},
	LeadStatusChanged: {
		field("id"), field("previous_status"), field("status"),
		field("name"), field("email"), field("phone"), field("conversation_id"), occurred("updated_at"),
	},
	BookingRequested: {
		field("lead_id"), field("conversation_id"), field("service"), field("start_time"), field("end_time"),
		field("event_type_id"), object("attendee", person...), field("notes"), field("channel"),
		occurred("requested_at"),
	},
	MessageLogged: {
		field("id"), field("conversation_id"), field("lead_id"), field("role"), field("content"),
		field("channel"), occurred("created_at"), field("metadata"),
	},
	ConversationEscalated: {
		field("conversation_id"), field("lead_id"), field("channel"), field("reason"), field("summary"),
		occurred("escalated_at"), object("lead", "id", "name", "email", "phone"), field("last_message_preview"),
	},
}

// EventData renders the data of an event of eventType as delivered: every
// known field of docs/events.md present (null when the sender sent nothing), the
// documented defaults filled (status "new", the *_at times from occurredAt),
// nested objects carrying their known keys, values the sender did send kept as
// sent, and extra fields passed through after the known ones, in key order. A
// type without a table here (Cal.com's bookings are built field by field in
// api) passes through. data must hold valid JSON values (as json.Unmarshal
// leaves them).
func EventData(eventType string, data map[string]json.RawMessage, occurredAt time.Time) json.RawMessage {
	fields := eventData[eventType]
	names := make([]string, len(fields))
	for i, f := range fields {
		names[i] = f.name
	}
	return writeObject(names, func(i int) json.RawMessage { return fields[i].value(data[fields[i].name], occurredAt) }, data)
}

// value returns the field's delivered value given what the sender sent (nil when
// nothing).
func (f dataField) value(sent json.RawMessage, occurredAt time.Time) json.RawMessage {
	missing := len(sent) == 0 || string(sent) == "null"
	switch {
	case f.keys != nil:
		return withKeys(sent, f.keys)
	case missing && f.def != nil:
		return mustMarshal(f.def(occurredAt))
	case missing:
		return json.RawMessage("null")
	}
	return sent
}

// withKeys returns the object sent with each of keys added as null where absent;
// nothing sent (or null) gives an object of nulls. A value that is not an object
// is kept as sent.
func withKeys(sent json.RawMessage, keys []string) json.RawMessage {
	obj := map[string]json.RawMessage{}
	if len(sent) > 0 && string(sent) != "null" {
		if json.Unmarshal(sent, &obj) != nil || obj == nil {
			return sent
		}
	}
	return writeObject(keys, func(i int) json.RawMessage {
		if v := obj[keys[i]]; len(v) > 0 {
			return v
		}
		return json.RawMessage("null")
	}, obj)
}

// writeObject writes a JSON object: the known keys in their order, each with
// value(i), then the other members of rest in key order, as they are.
func writeObject(known []string, value func(i int) json.RawMessage, rest map[string]json.RawMessage) json.RawMessage {
	var b bytes.Buffer
	b.WriteByte('{')
	seen := make(map[string]bool, len(known))
	for i, k := range known {
		seen[k] = true
		writeMember(&b, k, value(i))
	}
	extra := make([]string, 0, len(rest))
	for k := range rest {
		if !seen[k] {
			extra = append(extra, k)
		}
	}
	sort.Strings(extra)
	for _, k := range extra {
		writeMember(&b, k, rest[k])
	}
	b.WriteByte('}')
	return b.Bytes()
}

// writeMember appends "name":value to an object being written.
func writeMember(b *bytes.Buffer, name string, value json.RawMessage) {
	if b.Len() > 1 {
		b.WriteByte(',')
	}
	b.Write(mustMarshal(name))
	b.WriteByte(':')
	b.Write(value)
}

// mustMarshal encodes values that cannot fail to encode (strings, numbers).
func mustMarshal(v any) json.RawMessage {
	out, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return out
}
