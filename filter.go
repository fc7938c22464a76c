package webhooks

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Filter is an endpoint's payload filter: only the events whose envelope it
// matches are delivered. It is a JSON object whose keys are dotted paths into
// the envelope ("event", "data.status", "data.attendee.email") and whose
// values are a literal (equality) or an object of operators — $eq $ne $in
// $nin $gt $gte $lt $lte $exists — and "$and" / "$or" take lists of filters.
// Every condition must hold. A path into an array matches when any element
// does; a condition on a path the envelope lacks holds only for $ne, $nin and
// "$exists": false.
//
// A Filter is compiled (CompileFilter) into a Postgres SQL/JSON path predicate,
// which Postgres evaluates where events meet endpoints: at publish, so a
// filtered-out event makes no delivery, and in the dry run of
// POST /webhooks/{id}/filter-test. One evaluator, so the dry run says what
// publishing will do.
type Filter json.RawMessage

// MarshalJSON writes the filter as it is; null when there is none.
func (f Filter) MarshalJSON() ([]byte, error) {
	if len(f) == 0 {
		return []byte("null"), nil
	}
	return f, nil
}

// UnmarshalJSON keeps the filter's JSON as it came (null included: no filter).
func (f *Filter) UnmarshalJSON(b []byte) error {
	*f = append((*f)[:0], b...)
	return nil
}

// Limits of a filter.
const (
	MaxFilterBytes = 4 << 10
	MaxFilterDepth = 8   // objects and lists nested in one another
	MaxFilterIn    = 100 // values of one $in or $nin
)

// filterOperators are the comparison operators, and the jsonpath each is.
var filterOperators = map[string]string{"$eq": "==", "$ne": "==", "$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}

// CompileFilter validates f and returns the jsonpath predicate it is; "" for
// no filter (absent or JSON null). An invalid filter is EINVALID on the field
// "filter", saying what is wrong and where.
func CompileFilter(f Filter) (string, error) {
	trimmed := bytes.TrimSpace(f)
	if len(trimmed) == 0 || string(trimmed) == "null" {
		return "", nil
	}
	if len(trimmed) > MaxFilterBytes {
		return "", filterError("", fmt.Sprintf("must be at most %d bytes of JSON", MaxFilterBytes))
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return "", filterError("", "must be a JSON object")
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return "", filterError("", "must be a JSON object of conditions")
	}
	if len(obj) == 0 {
		return "", filterError("", "must have at least one condition (leave it out, or null, to receive every event)")
	}
	return compileAll(obj, "", 1)
}

func filterError(at, msg string) error {
	if at != "" {
		msg = at + ": " + msg
	}
	return Invalid(FieldError{"filter", msg})
}

// compileAll is the conjunction of an object's conditions, in key order.
func compileAll(obj map[string]any, at string, depth int) (string, error) {
	if depth > MaxFilterDepth {
		return "", filterError(at, fmt.Sprintf("nests deeper than %d levels", MaxFilterDepth))
	}
	var parts []string
	for _, key := range slices.Sorted(maps.Keys(obj)) {
		p, err := compileCondition(key, obj[key], join(at, key), depth)
		if err != nil {
			return "", err
		}
		parts = append(parts, p)
	}
	return strings.Join(parts, " && "), nil
}

func join(at, key string) string {
	if at == "" {
		return key
	}
	return at + "." + key
}

// compileCondition is one key of a filter object: $and, $or, or a path.
func compileCondition(key string, v any, at string, depth int) (string, error) {
	switch key {
	case "$and", "$or":
		list, ok := v.([]any)
		if !ok || len(list) == 0 {
			return "", filterError(at, "must be a non-empty list of filters")
		}
		var parts []string
		for i, item := range list {
			obj, ok := item.(map[string]any)
			if !ok || len(obj) == 0 {
				return "", filterError(fmt.Sprintf("%s[%d]", at, i), "must be a filter object with at least one condition")
			}
			p, err := compileAll(obj, fmt.Sprintf("%s[%d]", at, i), depth+1)
			if err != nil {
				return "", err
			}
			parts = append(parts, "("+p+")")
		}
		op := " && "
		if key == "$or" {
			op = " || "
		}
		return "(" + strings.Join(parts, op) + ")", nil
	}
	if strings.HasPrefix(key, "$") {
		return "", filterError(at, `is not an operator here: only "$and" and "$or" may stand beside paths`)
	}
	path, err := jsonPath(key, at)
	if err != nil {
		return "", err
	}
	ops, isOps := v.(map[string]any)
	if !isOps {
		return compileOperator(path, "$eq", v, at)
	}
	if len(ops) == 0 {
		return "", filterError(at, "must name at least one operator")
	}
	if depth+1 > MaxFilterDepth {
		return "", filterError(at, fmt.Sprintf("nests deeper than %d levels", MaxFilterDepth))
	}
	var parts []string
	for _, op := range slices.Sorted(maps.Keys(ops)) {
		p, err := compileOperator(path, op, ops[op], join(at, op))
		if err != nil {
			return "", err
		}
		parts = append(parts, p)
	}
	return strings.Join(parts, " && "), nil
}

// jsonPath is the jsonpath of a dotted path, each segment quoted.
func jsonPath(dotted, at string) (string, error) {
	segs := strings.Split(dotted, ".")
	var b strings.Builder
	b.WriteString("$")
	for _, s := range segs {
		if s == "" {
			return "", filterError(at, "is not a dotted path (an empty segment)")
		}
		q, _ := json.Marshal(s)
		b.WriteString(".")
		b.Write(q)
	}
	return b.String(), nil
}

// compileOperator is one operator on path. Every comparison is written as
// exists(path ? (@ op value)), which is true or false, never unknown: a value
// of another type, or a missing path, simply does not match.
func compileOperator(path, op string, v any, at string) (string, error) {
	switch op {
	case "$exists":
		want, ok := v.(bool)
		if !ok {
			return "", filterError(at, "must be true or false")
		}
		if want {
			return "exists(" + path + ")", nil
		}
		return "!exists(" + path + ")", nil
	case "$in", "$nin":
		list, ok := v.([]any)
		if !ok || len(list) == 0 || len(list) > MaxFilterIn {
			return "", filterError(at, fmt.Sprintf("must be a list of 1 to %d values", MaxFilterIn))
		}
		var alts []string
		for i, item := range list {
			lit, err := literal(item, fmt.Sprintf("%s[%d]", at, i), false)
			if err != nil {
				return "", err
			}
			alts = append(alts, "@ == "+lit)
		}
		p := "exists(" + path + " ? (" + strings.Join(alts, " || ") + "))"
		if op == "$nin" {
			p = "!" + p
		}
		return p, nil
	}
	cmp, ok := filterOperators[op]
	if !ok {
		return "", filterError(at, "is not an operator: use $eq $ne $in $nin $gt $gte $lt $lte $exists")
	}
	ordered := cmp != "=="
	lit, err := literal(v, at, ordered)
	if err != nil {
		return "", err
	}
	p := "exists(" + path + " ? (@ " + cmp + " " + lit + "))"
	if op == "$ne" {
		p = "!" + p
	}
	return p, nil
}

// literal is v as a jsonpath literal: a string, number, boolean or null (for
// an ordered comparison, a string or a number).
func literal(v any, at string, ordered bool) (string, error) {
	switch x := v.(type) {
	case string:
		q, _ := json.Marshal(x)
		return string(q), nil
	case json.Number:
		return x.String(), nil
	case bool:
		if !ordered {
			return fmt.Sprint(x), nil
		}
	case nil:
		if !ordered {
			return "null", nil
		}
	}
	if ordered {
		return "", filterError(at, "must be a string or a number")
	}
	return "", filterError(at, "must be a string, number, boolean or null (objects and lists: use a dotted path, or $in)")
}
