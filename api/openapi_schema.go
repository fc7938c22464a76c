package api

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"time"

	webhooks "github.com/empfio/webhooks"
)

// The OpenAPI document's schemas come from the Go types the handlers answer
// with, by reflection over their JSON tags, so the document cannot drift from
// the code: a field without omitempty is required, a pointer may be null, a
// time is a date-time string. The test suite validates real answers against
// them (internal/testing/apptest).

type object = map[string]any

// schemas collects the components/schemas of named struct types.
type schemas struct {
	named map[string]object
	names map[reflect.Type]string
}

func newSchemas() *schemas {
	return &schemas{named: map[string]object{}, names: map[reflect.Type]string{}}
}

var (
	timeType     = reflect.TypeFor[time.Time]()
	rawType      = reflect.TypeFor[json.RawMessage]()
	filterType   = reflect.TypeFor[webhooks.Filter]()
	durationType = reflect.TypeFor[webhooks.Duration]()
)

// schemaNames renames types whose Go name says too little in a document.
var schemaNames = map[reflect.Type]string{
	reflect.TypeFor[webhooks.Request]():  "DeliveryRequest",
	reflect.TypeFor[webhooks.Endpoint](): "Webhook",
	reflect.TypeFor[webhookWithSecret](): "WebhookWithSecret",
}

// of returns the schema of t: a $ref for a named struct (registered once).
func (s *schemas) of(t reflect.Type) object {
	switch {
	case t == timeType:
		return object{"type": "string", "format": "date-time"}
	case t == rawType:
		return object{} // any JSON value
	case t == filterType:
		return object{"type": []any{"object", "null"}, "description": "a payload filter: dotted paths into the envelope, each a value (equality) or operators $eq $ne $in $nin $gt $gte $lt $lte $exists; $and and $or take lists of filters; null: every event"}
	case t == durationType:
		return object{"type": "string", "description": `a Go duration, such as "30m" or "24h"`}
	case isPatch(t):
		v, _ := t.FieldByName("Value")
		o := nullable(s.of(v.Type.Elem()))
		o["description"] = "leave out to keep; null resets to the default"
		return o
	}
	switch t.Kind() {
	case reflect.Pointer:
		return nullable(s.of(t.Elem()))
	case reflect.String:
		return object{"type": "string"}
	case reflect.Bool:
		return object{"type": "boolean"}
	case reflect.Int, reflect.Int64, reflect.Int32:
		return object{"type": "integer"}
	case reflect.Float64, reflect.Float32:
		return object{"type": "number"}
	case reflect.Slice:
		return object{"type": "array", "items": s.of(t.Elem())}
	case reflect.Map:
		return object{"type": "object", "additionalProperties": s.of(t.Elem())}
	case reflect.Struct:
		return s.ref(t)
	}
	panic("openapi: no schema for " + t.String())
}

// isPatch reports whether t is a webhooks.Patch: a field of a PATCH body,
// whose schema is its value's, or null.
func isPatch(t reflect.Type) bool {
	return t.Kind() == reflect.Struct && t.PkgPath() == durationType.PkgPath() && strings.HasPrefix(t.Name(), "Patch[")
}

// ref registers struct type t and returns a reference to it.
func (s *schemas) ref(t reflect.Type) object {
	name, ok := s.names[t]
	if !ok {
		name = schemaNames[t]
		if name == "" {
			name = t.Name()
		}
		s.names[t] = name
		s.named[name] = nil // registered before its fields: a type may refer to itself
		s.named[name] = s.structOf(t)
	}
	return object{"$ref": "#/components/schemas/" + name}
}

// structOf is the object schema of struct type t, embedded structs flattened.
func (s *schemas) structOf(t reflect.Type) object {
	props, required := object{}, []string{}
	s.fields(t, props, &required)
	o := object{"type": "object", "properties": props}
	if len(required) > 0 {
		o["required"] = required
	}
	return o
}

func (s *schemas) fields(t reflect.Type, props object, required *[]string) {
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Anonymous {
			et := f.Type
			if et.Kind() == reflect.Pointer {
				et = et.Elem()
			}
			s.fields(et, props, required)
			continue
		}
		tag := f.Tag.Get("json")
		name, opts, _ := strings.Cut(tag, ",")
		if !f.IsExported() || name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		props[name] = refined(t, name, s.of(f.Type))
		if f.Tag.Get("openapi") == "nullable" { // a map or slice that marshals as null when nil
			props[name] = nullable(props[name].(object))
		}
		if !strings.Contains(opts, "omitempty") {
			*required = append(*required, name)
		}
	}
}

// fieldSchemas adds to a field's schema what its Go type cannot say: the
// values it takes, its bounds, its format — the limits the handlers enforce,
// from the same constants. Keyed "Type.field" by the Go type that declares
// the field, or "*.field" for a field of that name in any type.
var fieldSchemas = map[string]object{
	"*.url":                          {"format": "uri", "maxLength": webhooks.MaxURLLength},
	"*.description":                  {"maxLength": webhooks.MaxDescriptionLength},
	"*.events":                       {"minItems": 1, "maxItems": webhooks.MaxSubscriptions},
	"*.max_retries":                  {"minimum": 0, "maximum": webhooks.MaxPolicyRetries},
	"*.per_second":                   {"minimum": 1, "maximum": webhooks.MaxRateLimit},
	"*.ordering_key":                 {"maxLength": webhooks.MaxOrderingKeyLength},
	"*.status_code":                  {"minimum": 100, "maximum": 599},
	"*.last_status_code":             {"minimum": 100, "maximum": 599},
	"Delivery.status":                {"enum": deliveryStatuses},
	"Health.state":                   {"enum": []string{webhooks.CircuitClosed, webhooks.CircuitOpen, webhooks.CircuitHalfOpen}},
	"Trends.window":                  {"enum": []string{"24h", "7d"}},
	"AuditEvent.action":              {"enum": webhooks.AuditActions},
	"Organization.name":              {"maxLength": webhooks.MaxNameLength},
	"EndpointStats.success_rate_24h": {"minimum": 0, "maximum": 1},
}

// notUUIDs are the ids that are not this service's: a sender's, a request's.
var notUUIDs = map[string]bool{"external_id": true, "request_id": true, "target_id": true}

var deliveryStatuses = []string{webhooks.StatusPending, webhooks.StatusRetrying, webhooks.StatusHeld, webhooks.StatusSucceeded, webhooks.StatusFailed}

// refined is schema o of field name of struct type t with what fieldSchemas
// says of it; an id of this service's is a uuid.
func refined(t reflect.Type, name string, o object) object {
	add := fieldSchemas[t.Name()+"."+name]
	if add == nil {
		add = fieldSchemas["*."+name]
	}
	if (name == "id" || strings.HasSuffix(name, "_id")) && !notUUIDs[name] && isString(o) {
		add = object{"format": "uuid"}
	}
	if add == nil || o["$ref"] != nil || o["anyOf"] != nil {
		return o
	}
	out := object{}
	for k, v := range o {
		out[k] = v
	}
	for k, v := range add {
		out[k] = v
	}
	return out
}

// isString reports whether o is a string's schema, or a string's or null.
func isString(o object) bool {
	switch t := o["type"].(type) {
	case string:
		return t == "string"
	case []any:
		return slices.Contains(t, any("string"))
	}
	return false
}

// nullable lets schema o be null too.
func nullable(o object) object {
	if ref, ok := o["$ref"]; ok {
		return object{"anyOf": []any{object{"$ref": ref}, object{"type": "null"}}}
	}
	if t, ok := o["type"].(string); ok {
		out := object{}
		for k, v := range o {
			out[k] = v
		}
		out["type"] = []any{t, "null"}
		return out
	}
	return o // any value already
}

// request is the schema of a request body of type T: its fields as the
// answers have them, none of them required unless named.
func request[T any](s *schemas, required ...string) object {
	o := s.structOf(reflect.TypeFor[T]())
	delete(o, "required")
	if len(required) > 0 {
		o["required"] = required
	}
	return o
}

// inferred is the schema of example JSON value v: the catalog's examples
// describe each event's data (every key of an example is always sent).
func inferred(v any) object {
	switch v := v.(type) {
	case nil:
		return object{} // sent as null in the example: any value
	case bool:
		return object{"type": "boolean"}
	case float64:
		if v == float64(int64(v)) {
			return object{"type": "integer"}
		}
		return object{"type": "number"}
	case string:
		if _, err := time.Parse(time.RFC3339, v); err == nil {
			return object{"type": "string", "format": "date-time"}
		}
		return object{"type": "string"}
	case []any:
		if len(v) == 0 {
			return object{"type": "array"}
		}
		return object{"type": "array", "items": inferred(v[0])}
	case map[string]any:
		props, required := object{}, []string{}
		for k, x := range v {
			props[k] = inferred(x)
			required = append(required, k)
		}
		slices.Sort(required)
		o := object{"type": "object", "properties": props}
		if len(required) > 0 {
			o["required"] = required
		}
		return o
	}
	return object{}
}
