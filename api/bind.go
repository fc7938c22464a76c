package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"strconv"
	"strings"
	"time"

	webhooks "github.com/empfio/webhooks"
	"github.com/go-json-experiment/json/jsontext"
	"github.com/gofiber/fiber/v2"
)

// decodeJSON parses the request body into v. Unknown fields are ignored, so that
// clients may send fields a newer API version knows. Answers:
// 415 when the body is not JSON, 400 when it is malformed or empty,
// 422 when a field has the wrong type.
func decodeJSON(c *fiber.Ctx, v any) error {
	if err := requireJSON(c); err != nil {
		return err
	}
	body := c.Body()
	if len(bytes.TrimSpace(body)) == 0 {
		return webhooks.Errorf(webhooks.EBADREQUEST, "The request body is empty; send a JSON object.")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return webhooks.Errorf(webhooks.EBADREQUEST, "The request body has data after the JSON value.")
	}
	return strictJSON(body)
}

// strictJSON refuses what encoding/json lets through but JSON's interoperable
// profile (RFC 7493) does not: an object naming a key twice — a gateway that
// checked the first value and this service, which would take the last, would
// disagree about the request — and text that is not UTF-8.
func strictJSON(body []byte) error {
	if jsontext.Value(body).IsValid() {
		return nil
	}
	_, err := jsontext.NewDecoder(bytes.NewReader(body)).ReadValue()
	var se *jsontext.SyntacticError
	if errors.As(err, &se) && errors.Is(se.Err, jsontext.ErrDuplicateName) {
		where := string(se.JSONPointer.Parent())
		if len(where) > 100 {
			where = where[:100] + "…"
		}
		if where == "" {
			where = "the top level"
		}
		return webhooks.Errorf(webhooks.EBADREQUEST, "The request body names a key twice in one object (at %s); send each key once.", where)
	}
	return webhooks.Errorf(webhooks.EBADREQUEST, "The request body is not valid JSON in UTF-8.")
}

// decodeOptionalJSON is decodeJSON for bodies that may be left out.
func decodeOptionalJSON(c *fiber.Ctx, v any) error {
	if len(bytes.TrimSpace(c.Body())) == 0 {
		return nil
	}
	return decodeJSON(c, v)
}

// requireJSON accepts application/json (and +json types) in UTF-8, the only
// encoding JSON has (RFC 8259); a charset parameter naming another is refused.
func requireJSON(c *fiber.Ctx) error {
	mt, params, err := mime.ParseMediaType(c.Get(fiber.HeaderContentType))
	if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
		return webhooks.Errorf(webhooks.EUNSUPPORTED, "Send the body as application/json.")
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") && !strings.EqualFold(cs, "utf8") {
		return webhooks.Errorf(webhooks.EUNSUPPORTED, "Send the body as application/json in UTF-8.")
	}
	return nil
}

// jsonError explains a decoding error without echoing internals.
func jsonError(err error) error {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	var timeErr *time.ParseError
	switch {
	case errors.As(err, &timeErr):
		// Its text repeats the input twice: say what is expected instead.
		return webhooks.Invalid(webhooks.FieldError{Field: "body", Message: "a time is not in RFC 3339 form, such as 2026-03-07T10:30:00Z"})
	case errors.As(err, &typeErr):
		field := typeErr.Field
		if field == "" {
			return webhooks.Errorf(webhooks.EBADREQUEST, "The request body must be a JSON object.")
		}
		return webhooks.Invalid(webhooks.FieldError{Field: field, Message: "must be of type " + jsonType(typeErr.Type.Kind().String())})
	case errors.As(err, &syntaxErr):
		return webhooks.Errorf(webhooks.EBADREQUEST, "The request body is not valid JSON (at byte %d).", syntaxErr.Offset)
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return webhooks.Errorf(webhooks.EBADREQUEST, "The request body is not valid JSON (it ends early).")
	default:
		// An UnmarshalJSON method of ours refused a value (a duration, say).
		return webhooks.Invalid(webhooks.FieldError{Field: "body", Message: err.Error()})
	}
}

func jsonType(kind string) string {
	switch kind {
	case "slice", "array":
		return "array"
	case "map", "struct", "ptr":
		return "object"
	case "int", "int64", "int32", "float64":
		return "number"
	}
	return kind
}

// idParam returns route parameter name as a canonical UUID. Anything else cannot
// name a resource: 404, like an id of another organization.
func idParam(c *fiber.Ctx, name, what string) (string, error) {
	id, ok := webhooks.CanonicalID(c.Params(name))
	if !ok {
		return "", webhooks.Errorf(webhooks.ENOTFOUND, "%s not found.", what)
	}
	return id, nil
}

// pageParams reads ?limit= and ?cursor= of a list request.
func pageParams(c *fiber.Ctx) (int, *webhooks.Cursor, error) {
	limit := webhooks.DefaultPageSize
	if v := c.Query("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > webhooks.MaxPageSize {
			return 0, nil, webhooks.Invalid(webhooks.FieldError{Field: "limit", Message: "must be a number from 1 to 100"})
		}
		limit = n
	}
	if v := c.Query("cursor"); v != "" {
		cur, err := webhooks.DecodeCursor(v)
		return limit, cur, err
	}
	return limit, nil, nil
}

// List is the shape of every list answer.
type List[T any] struct {
	Data       []T     `json:"data"`
	NextCursor *string `json:"next_cursor"`
}

func listOf[T any](data []T, next *webhooks.Cursor) List[T] {
	l := List[T]{Data: data}
	if l.Data == nil {
		l.Data = []T{}
	}
	if next != nil {
		s := next.Encode()
		l.NextCursor = &s
	}
	return l
}

// timeQuery reads the query parameter name as an RFC 3339 time; nil when absent.
func timeQuery(c *fiber.Ctx, name string) (*time.Time, error) {
	v := c.Query(name)
	if v == "" {
		return nil, nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return nil, webhooks.Invalid(webhooks.FieldError{Field: name, Message: "must be an RFC 3339 time, such as 2026-12-01T00:00:00Z"})
	}
	return &t, nil
}
