package dashboard_test

import (
	"strings"
	"testing"
	"time"

	"github.com/empfio/webhooks/internal/testing/apptest"
)

// The API reference at /docs/ renders the api's own document in a real
// browser, offline: every operation listed under its tag, with no console
// error — a request to another origin would be one, refused by the policy.
func TestReference_RendersTheDocumentInABrowser(t *testing.T) {
	a := apptest.Start(t, apptest.Options{})
	b := newBrowser(t)
	b.navigate(a.URL + "/docs/")
	b.until(20*time.Second, "the operations are listed", `document.querySelectorAll('.opblock').length >= 40`)
	text := b.text("#reference")
	for _, want := range []string{"Empfio Webhooks", "Create a webhook", "/api/v1/webhooks/{id}/secret/rotate", "Receive an agent event", "Webhook"} {
		if !strings.Contains(text, want) {
			t.Errorf("the reference does not show %q", want)
		}
	}
	b.shot("api-reference")
	if errs := b.consoleErrors(); len(errs) > 0 {
		t.Fatalf("%d console errors: %v", len(errs), errs)
	}
}
