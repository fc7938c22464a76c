package webhooks_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	webhooks "github.com/empfio/webhooks"
)

func TestEndpoint_CustomHeaders(t *testing.T) {
	many := map[string]string{}
	for i := range webhooks.MaxHeaders + 1 {
		many["X-H"+strings.Repeat("a", i)] = "v"
	}
	for _, tc := range []struct {
		name    string
		headers map[string]string
		bad     []string // the fields named, sorted
	}{
		{"none", nil, nil},
		{"tokens and printable values", map[string]string{"Authorization": "Bearer abc", "X-Tenant": "t-1", "x~weird!#": "a b"}, nil},
		{"a name that is not a token", map[string]string{"X Tenant": "1", "X:Y": "1", "": "1"}, []string{"headers.", "headers.X Tenant", "headers.X:Y"}},
		{"the service's own", map[string]string{"content-type": "text/plain", "Host": "a", "User-Agent": "me", "Content-Length": "1",
			"X-Empfio-Signature": "x", "webhook-id": "x", "X-Empfio": "fine", "Webhooks": "fine"},
			[]string{"headers.Content-Length", "headers.Host", "headers.User-Agent", "headers.X-Empfio-Signature", "headers.content-type", "headers.webhook-id"}},
		{"a value with a control character", map[string]string{"X-A": "a\r\nX-Injected: 1", "X-B": "tab\there", "X-C": "é"},
			[]string{"headers.X-A", "headers.X-B", "headers.X-C"}},
		{"a value too long", map[string]string{"X-A": strings.Repeat("v", webhooks.MaxHeaderValueLength), "X-B": strings.Repeat("v", webhooks.MaxHeaderValueLength+1)},
			[]string{"headers.X-B"}},
		{"a name twice in two cases", map[string]string{"X-Tenant": "1", "x-tenant": "2"}, []string{"headers.x-tenant"}},
		{"too many", many, []string{"headers"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := &webhooks.Endpoint{URL: "https://hooks.example.com/x", Events: []string{"*"}, Headers: tc.headers}
			var got []string
			var werr *webhooks.Error
			if err := e.Validate(); errors.As(err, &werr) {
				for _, f := range werr.Fields {
					got = append(got, f.Field)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			slices.Sort(got)
			if !slices.Equal(got, tc.bad) {
				t.Fatalf("fields %v, want %v", got, tc.bad)
			}
		})
	}
}
