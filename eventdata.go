package webhooks

import (
	"bytes"
	"encoding/json"
	"slices"
	"sort"
	"strings"
	"time"
)

// A dataField is one known field of an event's data (docs/events.md). Every known
// field is present in the delivered data: null when the sender gave no value,
// unless the field has a default.
type dataField struct {
	name string
	kind kind
	// def is the documented default for a missing or null value; nil means null.
	def func(occurredAt time.Time) any
	// keys are the known keys of a nested object (each a text): the field is
	// always an object carrying each of them (null when unknown).
	keys []string
	// values, when set, are the only texts the field may hold.
	values []string
}

// kind is the JSON type a known field holds when it is not null.
type kind int

const (
	kindText   kind = iota // a string
	kindTime               // an RFC 3339 time, as a string
	kindNumber             // a number
	kindObject             // an object
)

func text(name string) dataField { return dataField{name: name} }

// oneOf is a text that is one of values.
func oneOf(name string, values ...string) dataField { return dataField{name: name, values: values} }

func number(name string) dataField { return dataField{name: name, kind: kindNumber} }

// object is a nested object field with its known keys.
func object(name string, keys ...string) dataField {
	return dataField{name: name, kind: kindObject, keys: keys}
}

// freeObject is an object of the sender's, passed on as sent.
func freeObject(name string) dataField { return dataField{name: name, kind: kindObject} }

// occurred is a time that defaults to when the event occurred.
func occurred(name string) dataField {
	return dataField{name: name, kind: kindTime, def: func(t time.Time) any { return FormatTime(t) }}
}

func timeField(name string) dataField { return dataField{name: name, kind: kindTime} }

// constant is a text that defaults to v.
func constant(name string, v any) dataField {
	return dataField{name: name, def: func(time.Time) any { return v }}
}

var person = []string{"name", "email", "phone", "time_zone"}

// eventData lists, for each event the agent produces, every field of its data
// in the order receivers see them: one table per event, as in docs/events.md.
var eventData = map[string][]dataField{
	LeadCreated: {
		text("id"), text("name"), text("email"), text("phone"), text("channel"),
		constant("status", "new"), occurred("created_at"),
		text("channel_id"), text("company"), text("conversation_id"), freeObject("metadata"),
	},
	LeadStatusChanged: {
		text("id"), text("previous_status"), text("status"),
		text("name"), text("email"), text("phone"), text("conversation_id"), occurred("updated_at"),
	},
	BookingRequested: {
		text("lead_id"), text("conversation_id"), text("service"), timeField("start_time"), timeField("end_time"),
		number("event_type_id"), object("attendee", person...), text("notes"), text("channel"),
		occurred("requested_at"),
	},
	MessageLogged: {
		text("id"), text("conversation_id"), text("lead_id"), oneOf("role", "user", "assistant", "system"), text("content"),
		text("channel"), occurred("created_at"), freeObject("metadata"),
	},
	ConversationEscalated: {
		text("conversation_id"), text("lead_id"), text("channel"), text("reason"), text("summary"),
		occurred("escalated_at"), object("lead", "id", "name", "email", "phone"), text("last_message_preview"),
	},
}

// ValidateEventData returns one FieldError per known field of eventType's
// data (docs/events.md) whose value is not of its documented type: a text, an
// RFC 3339 time, a number or an object, or null; a nested object's known keys
// are texts. Fields the table does not know pass through unchecked.
func ValidateEventData(eventType string, data map[string]json.RawMessage) []FieldError {
	var errs []FieldError
	for _, f := range eventData[eventType] {
		errs = append(errs, f.check("data."+f.name, data[f.name])...)
	}
	return errs
}

// check returns what is wrong with v, the value sent for f at path.
func (f dataField) check(path string, v json.RawMessage) []FieldError {
	if len(v) == 0 || string(v) == "null" {
		return nil
	}
	var s string
	isText := json.Unmarshal(v, &s) == nil
	switch {
	case f.kind == kindText && !isText:
		return []FieldError{{path, "must be a string or null"}}
	case f.kind == kindText && f.values != nil && !slices.Contains(f.values, s):
		return []FieldError{{path, "must be one of " + strings.Join(f.values, ", ")}}
	case f.kind == kindTime && !isText:
		return []FieldError{{path, "must be an RFC 3339 time such as 2026-03-07T10:30:00Z, or null"}}
	case f.kind == kindTime:
		if _, err := time.Parse(time.RFC3339, s); err != nil {
			return []FieldError{{path, "must be an RFC 3339 time such as 2026-03-07T10:30:00Z, or null"}}
		}
	case f.kind == kindNumber:
		var n json.Number
		if json.Unmarshal(v, &n) != nil || v[0] == '"' {
			return []FieldError{{path, "must be a number or null"}}
		}
	case f.kind == kindObject:
		var obj map[string]json.RawMessage
		if json.Unmarshal(v, &obj) != nil || obj == nil {
			return []FieldError{{path, "must be an object or null"}}
		}
		var errs []FieldError
		for _, k := range f.keys {
			errs = append(errs, text(k).check(path+"."+k, obj[k])...)
		}
		return errs
	}
	return nil
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
