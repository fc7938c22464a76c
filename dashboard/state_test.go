package dashboard_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	webhooks "github.com/empfio/webhooks"
	"github.com/empfio/webhooks/internal/testing/apptest"
)

// What a customer tripped on in a walk-through: a page that kept saying
// "Paused" after the circuit closed, "—" for an endpoint failing everything, a
// failed ping shown as a plain "Enabled", events in arrival order showing the
// sender's time, webhooks named by their ids, a typed key cleared by a typo,
// and Disable asking nothing.
func TestDashboard_StateFollowsTheServerInWordsACustomerReads(t *testing.T) {
	a := apptest.Start(t, apptest.Options{Worker: true,
		Schedule: webhooks.RetrySchedule{MaxRetries: 0, Window: time.Second},
		Breaker:  webhooks.Breaker{Failures: 2, ProbeInterval: 10 * time.Minute, DisableAfter: time.Hour}})
	orgID, key := a.Org(t, "Walk-through")
	b := newBrowser(t)
	b.signIn(a, key)
	recv := newSwitchable(t)
	recv.failing.Store(true)
	hookID, _ := a.Webhook(t, key, recv.URL+"/hooks", "lead.*")
	noPing := apptest.NewReceiver(t, apptest.Status(http.StatusServiceUnavailable))
	r := a.Do(t, "POST", "/api/v1/webhooks", key, map[string]any{"url": noPing.URL, "events": []string{"booking.*"}, "description": "Calendar sync"})
	if r.Status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	pauseWithOneHeld(t, a, orgID, key, hookID)
	var e webhooks.Endpoint

	// The list: 0 % for the failing endpoint, the failed ping for the other.
	b.do("reload", chromedp.Reload()) // the list was empty when signed in
	b.visible("#webhooks-table")
	row := func(id string) string { return b.text("tr[data-id='" + id + "']") }
	if got := row(hookID); !strings.Contains(got, "0 %") {
		t.Errorf("the failing endpoint's row: %q, want a success rate of 0 %%", got)
	}
	var list struct{ Data []webhooks.Endpoint }
	a.Do(t, "GET", "/api/v1/webhooks", key, nil).JSON(t, &list)
	for _, w := range list.Data {
		if w.URL == noPing.URL {
			if got := row(w.ID); !strings.Contains(got, "Last ping failed") || !strings.Contains(got, "503") {
				t.Errorf("the endpoint whose ping failed: %q", got)
			}
		}
	}

	// The webhook page follows the server: the circuit closes (the held
	// delivery retried by hand is the probe) and the notice goes, unreloaded.
	b.navigate(a.URL + "/dashboard/#/webhooks/" + hookID)
	b.visible("#circuit-notice")
	b.visible("#status-legend")
	recv.failing.Store(false)
	var held struct{ Data []webhooks.Delivery }
	a.Do(t, "GET", "/api/v1/webhooks/"+hookID+"/deliveries?status=held", key, nil).JSON(t, &held)
	if len(held.Data) != 1 {
		t.Fatalf("held deliveries: %v", held.Data)
	}
	a.Do(t, "POST", "/api/v1/deliveries/"+held.Data[0].ID+"/retry", key, nil)
	b.until(15*time.Second, "the notice and the badge follow the closed circuit",
		`!document.querySelector('#circuit-notice') && !document.body.innerText.includes('Paused')`)

	// Disable asks first; Cancel changes nothing.
	b.click("#disable")
	b.visible("dialog[open]")
	b.click(`dialog button[data-value=cancel]`)
	a.Do(t, "GET", "/api/v1/webhooks/"+hookID, key, nil).JSON(t, &e)
	if !e.Enabled {
		t.Fatal("Disable disabled without asking")
	}

	// The filtered log that matches nothing says so.
	eval[bool](b, `(() => { const s = document.querySelector('#filter-status'); s.value = 'retrying'; s.dispatchEvent(new Event('change')); return true; })()`)
	b.until(10*time.Second, "the empty filter's words", `document.querySelector('#deliveries-empty').innerText.includes('matches these filters')`)

	// Events: received (their order) beside the sender's time; where each went
	// by URL.
	b.navigate(a.URL + "/dashboard/#/events")
	b.visible("#events-table")
	if got := strings.ToLower(b.text("#events-table thead")); !strings.Contains(got, "received") || !strings.Contains(got, "occurred") {
		t.Errorf("the events' columns: %q", got)
	}
	eval[bool](b, `(() => { [...document.querySelectorAll('#events-table tbody tr')].find((r) => r.innerText.includes('lead.created')).click(); return true; })()`)
	b.visible("[data-webhook-url]")
	if got := b.text("[data-webhook-url]"); got != recv.URL+"/hooks" {
		t.Errorf("sent to %q, want the webhook's URL", got)
	}
	// Links underline below the baseline: lead.status_changed keeps its
	// underscore visible.
	if got := eval[string](b, `getComputedStyle(document.querySelector('a[href]')).textUnderlineOffset`); got == "auto" || got == "" {
		t.Errorf("links underline at the baseline (text-underline-offset %q): underscores disappear", got)
	}

	// A mistyped key stays in the field, to be corrected.
	b.click("#sign-out")
	b.typeInto("#api-key", "emp_wrong")
	b.click(`form button[type=submit]`)
	b.until(10*time.Second, "the refusal", `document.body.innerText.includes('not valid')`)
	if got := eval[string](b, `document.querySelector('#api-key').value`); got != "emp_wrong" {
		t.Errorf("the field holds %q after a refused key", got)
	}
	if errs := b.consoleErrors(); len(errs) > 0 {
		t.Fatalf("%d console errors: %v", len(errs), errs)
	}
}

// The audit log page shows who did what, from where: here a secret revealed
// and rotated through the dashboard; a dashboard link has no such page.
func TestDashboard_AuditLog(t *testing.T) {
	a := apptest.Start(t, apptest.Options{})
	_, key := a.Org(t, "Audited")
	recv := apptest.NewReceiver(t, apptest.Status(http.StatusOK))
	b := newBrowser(t)
	b.signIn(a, key)
	hookID, _ := a.Webhook(t, key, recv.URL, "lead.*")
	b.navigate(a.URL + "/dashboard/#/webhooks/" + hookID)
	b.click("#tab-secret")
	b.click("#reveal-secret")
	b.until(10*time.Second, "the secret shows", `document.querySelector('#secret-value').innerText.startsWith('whsec_')`)
	b.click("a[data-nav=audit]")
	b.visible("#audit-table")
	if got := b.text(`#audit-table tr[data-action="webhook.secret_revealed"]`); !strings.Contains(got, "Signing secret revealed") ||
		!strings.Contains(got, "API key emp_") || !strings.Contains(got, "127.0.0.1") {
		t.Errorf("the reveal's row: %q", got)
	}
	b.axe("audit log")
	eval[bool](b, `(() => { const s = document.querySelector('#audit-action'); s.value = 'api_key.revoked'; s.dispatchEvent(new Event('change')); return true; })()`)
	b.visible("#audit-empty")

	r := a.Do(t, "POST", "/api/v1/portal-sessions", key, map[string]any{"read_only": true})
	p := newBrowser(t)
	p.navigate(r.Map(t)["url"].(string))
	p.visible("#webhooks-table")
	if eval[bool](p, `!document.querySelector('a[data-nav=audit]').hidden`) {
		t.Error("a dashboard link offers the audit log")
	}
	if errs := append(b.consoleErrors(), p.consoleErrors()...); len(errs) > 0 {
		t.Fatalf("%d console errors: %v", len(errs), errs)
	}
}
