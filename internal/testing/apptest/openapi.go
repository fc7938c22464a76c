package apptest

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/empfio/webhooks/api"
	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
)

// Every answer a test gets from the api through Request (and App.Do) is
// checked against the OpenAPI document (api.OpenAPI) with kin-openapi: its
// status is documented (or the problem+json default), its content type and
// body match the schema. A route the document does not describe (the
// dashboard, asynqmon, a path or method that is not a route) is not checked.

var (
	specOnce sync.Once
	spec     *openapi3.T
	specErr  error
)

func openAPI() (*openapi3.T, error) {
	specOnce.Do(func() {
		loader := openapi3.NewLoader()
		spec, specErr = loader.LoadFromData(api.OpenAPI())
		if specErr == nil {
			specErr = spec.Validate(loader.Context)
		}
	})
	return spec, specErr
}

// checkAnswer fails t when the answer r to method rawURL breaks the document.
func checkAnswer(t testing.TB, method, rawURL string, r *Response) {
	t.Helper()
	doc, err := openAPI()
	if err != nil {
		t.Fatalf("the OpenAPI document does not load: %v", err)
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return
	}
	route, params := findRoute(doc, method, u.Path)
	if route == nil {
		return
	}
	req, err := http.NewRequest(method, rawURL, nil)
	if err != nil {
		return
	}
	opts := &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, IncludeResponseStatus: true, MultiError: true}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route, Options: opts},
		Status:                 r.Status, Header: r.Header, Options: opts,
	}
	in.SetBodyBytes(r.Body)
	if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
		t.Errorf("the answer to %s %s (%d %s) breaks the OpenAPI document: %v", method, u.Path, r.Status, r.Body, err)
	}
}

// findRoute finds the documented operation of method on path.
func findRoute(doc *openapi3.T, method, path string) (*routers.Route, map[string]string) {
	for tpl, item := range doc.Paths.Map() {
		params, ok := matchPath(tpl, path)
		if !ok {
			continue
		}
		op := item.GetOperation(method)
		if op == nil {
			return nil, nil
		}
		return &routers.Route{Spec: doc, Path: tpl, PathItem: item, Method: method, Operation: op}, params
	}
	return nil, nil
}

// matchPath matches path to a template such as /api/v1/webhooks/{id}.
func matchPath(tpl, path string) (map[string]string, bool) {
	ts, ps := strings.Split(tpl, "/"), strings.Split(path, "/")
	if len(ts) != len(ps) {
		return nil, false
	}
	params := map[string]string{}
	for i, s := range ts {
		switch {
		case strings.HasPrefix(s, "{"):
			if ps[i] == "" {
				return nil, false
			}
			params[s[1:len(s)-1]] = ps[i]
		case s != ps[i]:
			return nil, false
		}
	}
	return params, true
}
