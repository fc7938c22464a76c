package webhooks

import (
	"encoding/base64"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Page sizes of list endpoints.
const (
	DefaultPageSize = 50
	MaxPageSize     = 100
)

// Encode renders the cursor as an opaque URL-safe token.
func (c Cursor) Encode() string {
	return base64.RawURLEncoding.EncodeToString([]byte(c.CreatedAt.UTC().Format(time.RFC3339Nano) + "|" + c.ID))
}

// DecodeCursor parses a token made by Encode. Returns EINVALID for anything else.
func DecodeCursor(token string) (*Cursor, error) {
	bad := Invalid(FieldError{"cursor", "is not a cursor returned by this API"})
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil {
		return nil, bad
	}
	ts, id, ok := strings.Cut(string(raw), "|")
	if !ok {
		return nil, bad
	}
	t, err := time.Parse(time.RFC3339Nano, ts)
	if err != nil || uuid.Validate(id) != nil {
		return nil, bad
	}
	return &Cursor{CreatedAt: t, ID: id}, nil
}
