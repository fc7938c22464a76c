// Package webhooks holds the domain of Empfio Webhooks: organizations, endpoints,
// events, deliveries and attempts, the event catalog, the envelope, signing and the
// retry schedule. It imports no driver; store, jobs and api implement it.
package webhooks

import (
	"errors"
	"fmt"
)

// Application error codes. The api package maps each to one HTTP status.
const (
	EBADREQUEST   = "bad_request"        // the request cannot be parsed (400)
	EUNAUTHORIZED = "unauthorized"       // no or bad credentials (401)
	EFORBIDDEN    = "forbidden"          // valid credentials that do not allow the action (403)
	ENOTFOUND     = "not_found"          // does not exist, or belongs to another organization (404)
	EMETHOD       = "method_not_allowed" // the route exists, not with this method (405)
	ETIMEOUT      = "request_timeout"    // the request did not arrive in time (408)
	ECONFLICT     = "conflict"           // the resource is in a state that forbids the action (409)
	ETOOLARGE     = "too_large"          // the body is over the limit (413)
	EHEADERS      = "headers_too_large"  // the request's headers are over the limit (431)
	EUNSUPPORTED  = "unsupported"        // the body is not JSON (415)
	EINVALID      = "invalid"            // fields fail validation (422)
	ERATELIMITED  = "rate_limited"       // too many requests (429)
	EINTERNAL     = "internal"           // a bug; details go to logs only (500)
	EUNAVAILABLE  = "unavailable"        // Postgres or Redis cannot be reached (503)
)

// Error is an application error: a code for programs and a message for people.
// Fields carries per-field problems of an EINVALID error.
type Error struct {
	Code    string
	Message string
	Fields  []FieldError
	Err     error // the cause, for logs; never shown to users
}

// FieldError names one invalid field and what is wrong with it.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an application error with the given code and formatted message.
func Errorf(code string, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Unavailable wraps a dependency failure (Postgres or Redis unreachable).
func Unavailable(dependency string, err error) *Error {
	return &Error{Code: EUNAVAILABLE, Message: dependency + " is unavailable; retry later.", Err: err}
}

// Invalid returns an EINVALID error listing each field problem.
func Invalid(fields ...FieldError) *Error {
	return &Error{Code: EINVALID, Message: "The request has invalid fields.", Fields: fields}
}

// ErrorCode returns the code of an application error, or EINTERNAL for anything else.
func ErrorCode(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the message of an application error, or "Internal error."
// for anything else: internal details never reach users.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "Internal error."
}

// ErrorFields returns the field problems of an EINVALID error.
func ErrorFields(err error) []FieldError {
	var e *Error
	if errors.As(err, &e) {
		return e.Fields
	}
	return nil
}
