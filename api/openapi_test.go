package api_test

import (
	"bytes"
	"flag"
	"maps"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/empfio/webhooks/api"
	"github.com/empfio/webhooks/internal/testing/apptest"
	"github.com/getkin/kin-openapi/openapi3"
)

var update = flag.Bool("update", false, "rewrite api/openapi.json")

// The document is valid OpenAPI 3.1 (kin-openapi's check), and the committed
// api/openapi.json is the one the api serves.
func TestOpenAPI_ValidAndCommitted(t *testing.T) {
	doc := api.OpenAPI()
	if *update {
		if err := os.WriteFile("openapi.json", doc, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	loader := openapi3.NewLoader()
	d, err := loader.LoadFromData(doc)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Validate(loader.Context); err != nil {
		t.Fatal(err)
	}
	committed, err := os.ReadFile("openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(committed, doc) {
		t.Fatal("api/openapi.json differs from the document the api serves: run `make docs`")
	}
	a := apptest.Start(t, apptest.Options{})
	r := a.Do(t, "GET", api.OpenAPIPath, "", nil)
	if r.Status != 200 || !bytes.Equal(r.Body, doc) {
		t.Fatalf("GET %s: %d", api.OpenAPIPath, r.Status)
	}
}

// Routes the document does not describe, on purpose: the dashboard's files,
// asynqmon (its own API), and the root's redirect to the dashboard.
func undocumented(path string) bool {
	return path == "/" || strings.HasPrefix(path, "/dashboard") || strings.HasPrefix(path, "/ops/queues")
}

// Every route of fiber's table is in the document, and every operation of the
// document is a route.
func TestOpenAPI_DescribesEveryRouteAndNoOther(t *testing.T) {
	a := apptest.Start(t, apptest.Options{})
	d, err := openapi3.NewLoader().LoadFromData(api.OpenAPI())
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for path, item := range d.Paths.Map() {
		for method := range item.Operations() {
			documented[method+" "+path] = true
		}
	}
	routes := map[string]bool{}
	for _, r := range a.Server.App.GetRoutes(true) {
		if r.Method == "HEAD" || r.Method == "USE" || r.Method == "OPTIONS" || undocumented(r.Path) {
			continue
		}
		routes[r.Method+" "+openAPIPath(r.Path)] = true
	}
	for _, k := range slices.Sorted(maps.Keys(routes)) {
		if !documented[k] {
			t.Errorf("route %s is not in the OpenAPI document", k)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(documented)) {
		if !routes[k] {
			t.Errorf("the OpenAPI document describes %s, which is not a route", k)
		}
	}
	if len(routes) < 25 {
		t.Fatalf("only %d routes found: the walk is broken", len(routes))
	}
}

// openAPIPath writes fiber's /webhooks/:id as /webhooks/{id}.
func openAPIPath(p string) string {
	segs := strings.Split(p, "/")
	for i, s := range segs {
		if strings.HasPrefix(s, ":") {
			segs[i] = "{" + s[1:] + "}"
		}
	}
	return strings.Join(segs, "/")
}
