package apptest

import (
	"net/http"
	"strings"
	"testing"
)

// recorder is a testing.TB that records failures instead of failing.
type recorder struct {
	testing.TB
	errs []string
}

func (r *recorder) Helper()                           {}
func (r *recorder) Errorf(format string, args ...any) { r.errs = append(r.errs, format) }
func (r *recorder) Fatalf(format string, args ...any) { r.errs = append(r.errs, format) }

// The check catches an answer that breaks the document, and passes one that
// keeps it.
func TestCheckAnswer_CatchesWhatBreaksTheDocument(t *testing.T) {
	jsonHeader := http.Header{"Content-Type": {"application/json"}}
	problem := http.Header{"Content-Type": {"application/problem+json"}}
	cases := []struct {
		name, method, path string
		r                  Response
		ok                 bool
	}{
		{"a healthz as documented", "GET", "/healthz", Response{Status: 200, Header: jsonHeader, Body: []byte(`{"status":"ok"}`)}, true},
		{"a healthz with another status value", "GET", "/healthz", Response{Status: 200, Header: jsonHeader, Body: []byte(`{"status":"fine"}`)}, false},
		{"a webhook without its fields", "GET", "/api/v1/webhooks/0b7f6a52-1c1e-4c3a-9d55-0c7f1a2b3c4d", Response{Status: 200, Header: jsonHeader, Body: []byte(`{"id":5}`)}, false},
		{"a problem", "GET", "/api/v1/webhooks/0b7f6a52-1c1e-4c3a-9d55-0c7f1a2b3c4d", Response{Status: 404, Header: problem,
			Body: []byte(`{"type":"about:blank","title":"Not Found","status":404,"detail":"Webhook not found."}`)}, true},
		{"a problem as plain text", "GET", "/api/v1/webhooks/0b7f6a52-1c1e-4c3a-9d55-0c7f1a2b3c4d", Response{Status: 404,
			Header: http.Header{"Content-Type": {"text/plain"}}, Body: []byte("not found")}, false},
		{"a route the document does not describe", "GET", "/dashboard/app.js", Response{Status: 200, Body: []byte("x")}, true},
	}
	for _, c := range cases {
		rec := &recorder{TB: t}
		checkAnswer(rec, c.method, "http://127.0.0.1:1"+c.path, &c.r)
		if ok := len(rec.errs) == 0; ok != c.ok {
			t.Errorf("%s: passed %v, want %v (%s)", c.name, ok, c.ok, strings.Join(rec.errs, "; "))
		}
	}
}
