package webhooks_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"

	webhooks "github.com/empfio/webhooks"
)

var update = flag.Bool("update", false, "rewrite docs/events.md from the catalog")

// eventsDoc renders the event catalog as docs/events.md.
func eventsDoc() []byte {
	var b bytes.Buffer
	b.WriteString("# Event catalog\n\n")
	b.WriteString("<!-- Generated from catalog.go by `go test . -run TestDocs_EventsMatchTheCatalog -update` (make docs); do not edit. -->\n\n")
	b.WriteString("Every delivery's body is the envelope below; `data` is the event's own. Subscribe to an\n")
	b.WriteString("exact type, to `*` (all, including types added later) or to a prefix such as `lead.*`.\n")
	b.WriteString("The same list, with the same examples, is served by `GET /api/v1/event-types`.\n\n")
	b.WriteString("```json\n{\"id\":\"<event id>\",\"event\":\"<type>\",\"timestamp\":\"2026-03-07T10:30:00Z\",\n \"organization_id\":\"550e8400-e29b-41d4-a716-446655440000\",\"data\":{}}\n```\n\n")
	b.WriteString("Types marked *published* appear in Empfio's public docs: their names and fields never change.\n")
	b.WriteString("Operational types (`webhook.*` but `webhook.ping`, `delivery.failed`) are the service's news about the\n")
	b.WriteString("organization's own endpoints; one is never sent to the endpoint it is about.\n\n")
	b.WriteString("| type | published | what happened |\n| --- | --- | --- |\n")
	for _, t := range webhooks.Catalog {
		pub := ""
		if t.Published {
			pub = "published"
		}
		fmt.Fprintf(&b, "| [`%s`](#%s) | %s | %s |\n", t.Name, anchor(t.Name), pub, t.Description)
	}
	for _, t := range webhooks.Catalog {
		fmt.Fprintf(&b, "\n## %s\n\n%s\n\n", t.Name, t.Description)
		if t.Published {
			b.WriteString("Published: the name and these fields never change.\n\n")
		}
		var pretty bytes.Buffer
		if err := json.Indent(&pretty, t.Example, "", "  "); err != nil {
			panic(err)
		}
		fmt.Fprintf(&b, "Example `data`:\n\n```json\n%s\n```\n", pretty.String())
	}
	return b.Bytes()
}

// anchor is the GitHub heading anchor of an event type's section.
func anchor(name string) string { return strings.ReplaceAll(name, ".", "") }

// docs/events.md is the catalog: it is generated from it, and fails this test
// when either changes without the other.
func TestDocs_EventsMatchTheCatalog(t *testing.T) {
	want := eventsDoc()
	if *update {
		if err := os.WriteFile("docs/events.md", want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile("docs/events.md")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("docs/events.md differs from the catalog: run `make docs` (go test . -run TestDocs_EventsMatchTheCatalog -update)")
	}
}
