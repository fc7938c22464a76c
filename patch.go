package webhooks

import "encoding/json"

// Patch is one field of a PATCH body, which may be absent (Set false: leave it
// as it is), null (Set, Value nil: reset it to its default) or a value.
type Patch[T any] struct {
	Set   bool
	Value *T
}

// PatchOf is a Patch that sets v.
func PatchOf[T any](v T) Patch[T] { return Patch[T]{Set: true, Value: &v} }

// UnmarshalJSON marks the field present; JSON null leaves Value nil.
// (encoding/json calls it only for a field present in the body, null included.)
func (p *Patch[T]) UnmarshalJSON(b []byte) error {
	p.Set, p.Value = true, nil
	if string(b) == "null" {
		return nil
	}
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	p.Value = &v
	return nil
}

// IsNull reports whether the body set the field to null.
func (p Patch[T]) IsNull() bool { return p.Set && p.Value == nil }
