package dashboard_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	webhooks "github.com/empfio/webhooks"
	"github.com/empfio/webhooks/internal/testing/apptest"
	"github.com/empfio/webhooks/internal/testing/testenv"
)

// A user sends a test event of a chosen type and watches it as a delivery in
// the log, with the headers the receiver answered; searches the log by event
// id (a bad one is shown at the field) and by delivery id.
func TestDashboard_TestEventOfAChosenTypeAndSearch(t *testing.T) {
	a := apptest.Start(t, apptest.Options{Worker: true})
	orgID, key := a.Org(t, "Search and test")
	recv := apptest.NewReceiver(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("X-Receiver", "crm-7")
		w.WriteHeader(http.StatusOK)
	})
	b := newBrowser(t)
	b.signIn(a, key)
	id, _ := a.Webhook(t, key, recv.URL, "lead.*")
	b.navigate(a.URL + "/dashboard/#/webhooks/" + id)
	b.visible("#deliveries-table")

	b.click("#send-test")
	b.visible("#test-type")
	if got := b.text("#test-type"); strings.Contains(got, "booking.") || !strings.Contains(got, "lead.status_changed") {
		t.Fatalf("the types offered are not the webhook's: %q", got)
	}
	eval[bool](b, `(document.querySelector('#test-type').value = 'lead.created') === 'lead.created'`)
	b.click(`dialog button[data-value=send]`)
	b.visible("#test-sent")
	b.until(15*time.Second, "the test delivery opens as succeeded, with the receiver's headers",
		`[...document.querySelectorAll('[data-response-headers]')].some((d) => d.innerText.includes('Headers'))`)
	b.click("[data-response-headers] summary")
	if got := b.text("[data-response-headers]"); !strings.Contains(strings.ToLower(got), "x-receiver") || !strings.Contains(got, "crm-7") {
		t.Fatalf("response headers shown: %q", got)
	}
	if n := len(recv.Of(webhooks.LeadCreated)); n != 1 {
		t.Fatalf("%d lead.created deliveries arrived, want the one test event", n)
	}
	// Header names read as they are sent (innerText shows what CSS makes of them).
	if got := b.text(".delivery-panel"); !strings.Contains(got, "X-Empfio-Event") || !strings.Contains(got, "X-Receiver") {
		t.Errorf("header names are not shown in their own case: %q", got)
	}
	b.shot("test-event-delivery")

	// Search by event id: only that event's delivery.
	publishLead(t, a, orgID, "lead-a")
	publishLead(t, a, orgID, "lead-b")
	b.until(15*time.Second, "three deliveries listed", `document.querySelectorAll('tr[data-delivery-row]').length === 3`)
	var events struct{ Data []webhooks.Event }
	a.Do(t, "GET", "/api/v1/events?limit=1", key, nil).JSON(t, &events)
	b.typeInto("#search-id", events.Data[0].ID)
	b.click("#search")
	b.until(10*time.Second, "one delivery listed", `document.querySelectorAll('tr[data-delivery-row]').length === 1`)

	b.typeInto("#search-id", "not-an-id")
	b.click("#search")
	b.visible("#err-event_id")

	// Search by delivery id: that delivery, open.
	var log struct{ Data []webhooks.Delivery }
	a.Do(t, "GET", "/api/v1/webhooks/"+id+"/deliveries", key, nil).JSON(t, &log)
	oldest := log.Data[len(log.Data)-1]
	b.typeInto("#search-id", oldest.ID)
	b.click("#search")
	b.until(10*time.Second, "the delivery opens", `!!document.querySelector('.delivery-panel[data-delivery="`+oldest.ID+`"]')`)
	if errs := b.consoleErrors(); len(errs) > 0 {
		t.Fatalf("%d console errors: %v", len(errs), errs)
	}
}

// A user writes a payload filter, tries it on the webhook's recent events,
// sees a bad one refused at the field, and saves a good one.
func TestDashboard_PayloadFilterWithDryRun(t *testing.T) {
	a := apptest.Start(t, apptest.Options{Worker: true})
	orgID, key := a.Org(t, "Filter editor")
	recv := apptest.NewReceiver(t, apptest.Status(200))
	b := newBrowser(t)
	b.signIn(a, key)
	id, _ := a.Webhook(t, key, recv.URL, "lead.*")
	for _, lead := range []string{"lead-a", "lead-b", "lead-c"} {
		publishLead(t, a, orgID, lead)
	}
	b.navigate(a.URL + "/dashboard/#/webhooks/" + id)
	b.click("#tab-settings")
	b.visible("#webhook-form")
	b.click("details.field:has(#filter) summary")

	b.typeInto("#filter", `{"data.id": {"$in": ["lead-a", "lead-c"]}}`)
	b.click("#filter-try")
	b.visible("#filter-verdict")
	if got := b.text("#filter-verdict"); !strings.Contains(got, "2 of the last 3") {
		t.Fatalf("dry run: %q", got)
	}

	b.typeInto("#filter", `{"data.id": {"$regex": "lead"}}`)
	b.click("#filter-try")
	b.visible("#err-filter")
	if got := b.text("#err-filter"); !strings.Contains(got, "is not an operator") {
		t.Fatalf("the bad filter's error: %q", got)
	}

	b.typeInto("#filter", `{"data.id": "lead-b"}`)
	b.click("#save-webhook")
	testenv.Eventually(t, 10*time.Second, "the filter is saved", func() bool {
		var e webhooks.Endpoint
		a.Do(t, "GET", "/api/v1/webhooks/"+id, key, nil).JSON(t, &e)
		return strings.Contains(string(e.Filter), `"lead-b"`)
	})
	if errs := b.consoleErrors(); len(errs) > 0 {
		t.Fatalf("%d console errors: %v", len(errs), errs)
	}
}

// A user turns on "Deliver in order"; a later event about a lead whose
// earlier delivery keeps failing says what it waits for, and leads there.
func TestDashboard_OrderedDeliveryToggleAndWaiting(t *testing.T) {
	a := apptest.Start(t, apptest.Options{Worker: true, Schedule: webhooks.RetrySchedule{MaxRetries: 3, Window: time.Minute}})
	orgID, key := a.Org(t, "Ordered")
	recv := apptest.NewReceiver(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Empfio-Event") == webhooks.LeadCreated {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	})
	b := newBrowser(t)
	b.signIn(a, key)
	id, _ := a.Webhook(t, key, recv.URL, "lead.*")
	b.navigate(a.URL + "/dashboard/#/webhooks/" + id)
	b.click("#tab-settings")
	b.visible("#webhook-form")
	if eval[bool](b, `document.querySelector('#ordered').checked`) {
		t.Fatal("a new webhook shows as ordered")
	}
	b.click("#ordered")
	b.click("#save-webhook")
	testenv.Eventually(t, 10*time.Second, "ordered is saved", func() bool {
		var e webhooks.Endpoint
		a.Do(t, "GET", "/api/v1/webhooks/"+id, key, nil).JSON(t, &e)
		return e.Ordered
	})

	publishLead(t, a, orgID, "lead-a") // fails, and is retried for a minute
	testenv.Eventually(t, 10*time.Second, "the first delivery failed once", func() bool { return len(recv.Of(webhooks.LeadCreated)) == 1 })
	r := a.Do(t, "POST", "/api/v1/events", apptest.InternalToken, map[string]any{"event": webhooks.LeadStatusChanged, "organization_id": orgID,
		"ordering_key": "lead:lead-a", "data": map[string]any{"id": "lead-a", "status": "qualified"}})
	if r.Status != http.StatusAccepted {
		t.Fatalf("publish: %d %s", r.Status, r.Body)
	}
	var log struct{ Data []webhooks.Delivery }
	testenv.Eventually(t, 10*time.Second, "two deliveries", func() bool {
		a.Do(t, "GET", "/api/v1/webhooks/"+id+"/deliveries", key, nil).JSON(t, &log)
		return len(log.Data) == 2
	})
	second, first := log.Data[0], log.Data[1]
	b.navigate(a.URL + "/dashboard/#/webhooks/" + id)
	b.visible("#search-id")
	b.typeInto("#search-id", second.ID)
	b.click("#search")
	b.visible(`[data-waiting-for="` + first.ID + `"]`)
	if got := b.text("[data-waiting-for]"); !strings.Contains(got, "Waiting for "+first.ID+" of the same key") {
		t.Fatalf("the waiting notice: %q", got)
	}
	if n := len(recv.Of(webhooks.LeadStatusChanged)); n != 0 {
		t.Fatalf("the later event was sent %d times while the earlier one is failing", n)
	}
	b.click(`[data-action=open-waiting-for]`)
	b.visible(`.delivery-panel[data-delivery="` + first.ID + `"]`)
	if errs := b.consoleErrors(); len(errs) > 0 {
		t.Fatalf("%d console errors: %v", len(errs), errs)
	}
}
