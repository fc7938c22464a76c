package webhooks

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"golang.org/x/net/http/httpguts"
)

// Limits of an endpoint's custom headers (Endpoint.Headers).
const (
	MaxHeaders           = 20
	MaxHeaderValueLength = 1024
)

// reservedHeaders are the headers every delivery sets itself; prefixes end in
// "-". A custom header may not take their place.
var reservedHeaders = []string{"content-type", "content-length", "host", "user-agent", "x-empfio-", "webhook-"}

// validateHeaders returns a FieldError for each bad custom header: a name that
// is not an HTTP token, is one the service sets, or repeats another in another
// case; a value over MaxHeaderValueLength or with a character that is not
// printable ASCII (a control character could split the header).
func validateHeaders(h map[string]string) []FieldError {
	if len(h) > MaxHeaders {
		return []FieldError{{"headers", fmt.Sprintf("must have at most %d entries", MaxHeaders)}}
	}
	var errs []FieldError
	seen := make(map[string]string, len(h))
	for _, name := range slices.Sorted(maps.Keys(h)) {
		field, lower := "headers."+name, strings.ToLower(name)
		switch {
		case !httpguts.ValidHeaderFieldName(name):
			errs = append(errs, FieldError{field, "must be an HTTP header name (letters, digits and !#$%&'*+-.^_`|~)"})
		case isReservedHeader(lower):
			errs = append(errs, FieldError{field, "is set by the service on every delivery"})
		case seen[lower] != "":
			errs = append(errs, FieldError{field, fmt.Sprintf("repeats %q (header names are case-insensitive)", seen[lower])})
		case len(h[name]) > MaxHeaderValueLength:
			errs = append(errs, FieldError{field, fmt.Sprintf("must be at most %d characters", MaxHeaderValueLength)})
		case !printableASCII(h[name]):
			errs = append(errs, FieldError{field, "must be printable ASCII characters"})
		}
		seen[lower] = name
	}
	return errs
}

func isReservedHeader(lower string) bool {
	for _, r := range reservedHeaders {
		if lower == r || strings.HasSuffix(r, "-") && strings.HasPrefix(lower, r) {
			return true
		}
	}
	return false
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}
