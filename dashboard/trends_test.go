package dashboard_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	webhooks "github.com/empfio/webhooks"
	"github.com/empfio/webhooks/internal/testing/apptest"
	"github.com/empfio/webhooks/internal/testing/testenv"
)

// A webhook's health as pictures: deliveries by outcome and attempt latency
// over 24 hours and 7 days on its page, a sparkline per webhook in the list;
// a webhook with nothing yet says so instead of drawing nothing; all of it at
// phone width without sideways scrolling.
func TestDashboard_TrendsAsPictures(t *testing.T) {
	a := apptest.Start(t, apptest.Options{Worker: true, Schedule: webhooks.RetrySchedule{MaxRetries: 0, Window: time.Second}})
	orgID, key := a.Org(t, "Pictures")
	recv := apptest.NewReceiver(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		var env struct{ Data struct{ ID string } }
		json.NewDecoder(r.Body).Decode(&env)
		if strings.HasPrefix(env.Data.ID, "bad") {
			w.WriteHeader(http.StatusBadGateway)
		}
	})
	b := newBrowser(t)
	b.signIn(a, key)
	hookID, _ := a.Webhook(t, key, recv.URL, "lead.*")
	quietID, _ := a.Webhook(t, key, recv.URL+"/quiet", "booking.*")
	for _, lead := range []string{"ok-1", "ok-2", "ok-3", "bad-1"} {
		publishLead(t, a, orgID, lead)
	}
	testenv.Eventually(t, 15*time.Second, "four deliveries final", func() bool {
		var tr webhooks.Trends
		a.Do(t, "GET", "/api/v1/webhooks/"+hookID+"/trends", key, nil).JSON(t, &tr)
		last := tr.Points[len(tr.Points)-1]
		return last.Succeeded == 3 && last.Failed == 1
	})

	b.navigate(a.URL + "/dashboard/#/webhooks/" + hookID)
	b.visible(`svg[data-chart=deliveries] rect.bar-ok`)
	b.visible(`svg[data-chart=deliveries] rect.bar-bad`)
	b.visible(`svg[data-chart=latency] circle.line-p50, svg[data-chart=latency] polyline.line-p50`)
	if got := eval[string](b, `document.querySelector('svg[data-chart=deliveries]').getAttribute('aria-label')`); !strings.Contains(got, "3 succeeded, 1 failed") {
		t.Errorf("the deliveries chart says %q", got)
	}
	// The page is tabs: the log and its charts first, settings and secret
	// a tab away (arrow keys move between them).
	if !eval[bool](b, `document.querySelector('#panel-settings').hidden && !document.querySelector('#panel-deliveries').hidden`) {
		t.Error("the settings show beside the log")
	}
	if h := eval[float64](b, `document.documentElement.scrollHeight`); h > 2200 {
		t.Errorf("the webhook page is %.0f px tall", h)
	}
	eval[bool](b, `document.querySelector('#tab-deliveries').dispatchEvent(new KeyboardEvent('keydown', { key: 'ArrowRight', bubbles: true }))`)
	if !eval[bool](b, `document.activeElement.id === 'tab-settings' && document.querySelector('#tab-settings').getAttribute('aria-selected') === 'true' && !document.querySelector('#panel-settings').hidden`) {
		t.Error("ArrowRight did not move to the settings tab")
	}
	b.click("#tab-deliveries")
	b.click(`button[data-window="7d"]`)
	b.until(10*time.Second, "the 7-day chart", `document.querySelector('svg[data-chart=deliveries]').getAttribute('aria-label').includes('7 days')`)
	b.shot("webhook-health")

	b.navigate(a.URL + "/dashboard/#/webhooks/" + quietID)
	b.until(10*time.Second, "the quiet webhook's words", `document.querySelector('svg[data-chart=deliveries]') && document.querySelector('svg[data-chart=deliveries]').textContent.includes('No deliveries in this period')`)

	b.navigate(a.URL + "/dashboard/#/webhooks")
	b.until(10*time.Second, "a sparkline per webhook", `document.querySelectorAll('[data-sparkline] svg').length === 2`)
	if got := eval[string](b, `document.querySelector('[data-sparkline="`+hookID+`"] svg').getAttribute('aria-label')`); !strings.Contains(got, "3 succeeded, 1 failed") {
		t.Errorf("the sparkline says %q", got)
	}
	b.do("phone", emulatePhone())
	b.navigate(a.URL + "/dashboard/#/webhooks/" + hookID)
	b.visible(`svg[data-chart=deliveries] rect.bar-ok`)
	if wide := eval[bool](b, `document.documentElement.scrollWidth > window.innerWidth + 1`); wide {
		t.Error("the webhook page with its charts scrolls sideways at phone width")
	}
	b.do("desktop", chromedp.EmulateReset())
	if errs := b.consoleErrors(); len(errs) > 0 {
		t.Fatalf("%d console errors: %v", len(errs), errs)
	}
}
