package dashboard_test

import (
	"net/http"
	"testing"
	"time"

	webhooks "github.com/empfio/webhooks"
	"github.com/empfio/webhooks/internal/testing/apptest"
	"github.com/empfio/webhooks/internal/testing/testenv"
)

// The screenshot set (make screenshots), of an organization with a healthy
// webhook and one failing: the list with its sparklines, a webhook's page with
// its charts, a delivery with its attempts, the page at phone width, and a
// read-only portal link. Each step waits for what its picture shows.
func TestDashboard_Screenshots(t *testing.T) {
	a := apptest.Start(t, apptest.Options{Worker: true, Schedule: webhooks.RetrySchedule{MaxRetries: 0, Window: time.Second}})
	orgID, key := a.Org(t, "Albers Steuerberatung")
	crm := apptest.NewReceiver(t, apptest.Status(http.StatusOK))
	flaky := newSwitchable(t)
	crmID, _ := a.Webhook(t, key, crm.URL+"/hooks/empfio", "lead.*")
	flakyID, _ := a.Webhook(t, key, flaky.URL+"/calendar", "lead.*")
	for i, lead := range []string{"lead-1", "lead-2", "lead-3", "lead-4", "lead-5", "lead-6"} {
		flaky.failing.Store(i%3 == 2)
		publishLead(t, a, orgID, lead)
		testenv.Eventually(t, 10*time.Second, "the delivery to the flaky endpoint is final", func() bool {
			var log struct{ Data []webhooks.Delivery }
			a.Do(t, "GET", "/api/v1/webhooks/"+flakyID+"/deliveries", key, nil).JSON(t, &log)
			return len(log.Data) == i+1 && webhooks.IsFinalStatus(log.Data[0].Status)
		})
	}
	b := newBrowser(t)
	b.navigate(a.URL + "/dashboard/")
	b.typeInto("#api-key", key)
	b.click(`form button[type=submit]`)
	b.until(10*time.Second, "the sparklines", `document.querySelectorAll('[data-sparkline] svg').length === 2`)
	b.shot("01-webhooks-list")

	b.navigate(a.URL + "/dashboard/#/webhooks/" + flakyID)
	b.visible(`svg[data-chart=deliveries] rect.bar-bad`)
	b.shot("02-webhook-health")
	b.click("tr[data-delivery-row][data-status=failed]")
	b.visible(`.delivery-panel tr[data-attempt="1"]`)
	b.shot("03-delivery-attempts")

	b.do("phone", emulatePhone())
	b.navigate(a.URL + "/dashboard/#/webhooks/" + crmID)
	b.visible(`svg[data-chart=deliveries] rect.bar-ok`)
	b.shot("04-webhook-phone")

	r := a.Do(t, "POST", "/api/v1/portal-sessions", key, map[string]any{"read_only": true})
	p := newBrowser(t)
	p.navigate(r.Map(t)["url"].(string))
	p.until(10*time.Second, "the portal's list with sparklines", `document.querySelectorAll('[data-sparkline] svg').length === 2`)
	p.shot("05-portal-read-only")
	if errs := append(b.consoleErrors(), p.consoleErrors()...); len(errs) > 0 {
		t.Fatalf("%d console errors: %v", len(errs), errs)
	}
}
