package dashboard_test

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	webhooks "github.com/empfio/webhooks"
	"github.com/empfio/webhooks/internal/testing/apptest"
	"github.com/empfio/webhooks/internal/testing/testenv"
)

// switchable is a receiver that answers 200 until told to fail.
type switchable struct {
	*apptest.Receiver
	failing atomic.Bool
}

func newSwitchable(t *testing.T) *switchable {
	s := &switchable{}
	s.Receiver = apptest.NewReceiver(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		if s.failing.Load() && r.Header.Get("X-Empfio-Event") != webhooks.WebhookPing {
			w.WriteHeader(http.StatusInternalServerError)
			w.Write([]byte(`{"error":"database is down"}`))
			return
		}
		w.Write([]byte(`{"received":true}`))
	})
	return s
}

// pauseWithOneHeld sends two leads to webhook hookID, whose receiver fails
// and whose breaker opens after two failures, waits for its circuit to open,
// and sends a third, which is held.
func pauseWithOneHeld(t *testing.T, a *apptest.App, orgID, key, hookID string) {
	t.Helper()
	publishLead(t, a, orgID, "lead-1")
	publishLead(t, a, orgID, "lead-2")
	var e webhooks.Endpoint
	testenv.Eventually(t, 15*time.Second, "the circuit opens", func() bool {
		a.Do(t, "GET", "/api/v1/webhooks/"+hookID, key, nil).JSON(t, &e)
		return e.Health.State == webhooks.CircuitOpen
	})
	publishLead(t, a, orgID, "lead-3")
	testenv.Eventually(t, 15*time.Second, "the third delivery is held", func() bool {
		a.Do(t, "GET", "/api/v1/webhooks/"+hookID, key, nil).JSON(t, &e)
		return e.Health.Held == 1
	})
}

// explainRelease logs, when t failed, where the release of hookID's held
// deliveries stands: the endpoint's circuit and release head, and each
// delivery with its task in Redis.
func explainRelease(t *testing.T, a *apptest.App, hookID string) {
	if !t.Failed() {
		return
	}
	ctx := context.Background()
	var state string
	var head *string
	testenv.Must(t, a.DB.Pool().QueryRow(ctx, `SELECT circuit_state, release_head::text FROM endpoints WHERE id = $1`, hookID).Scan(&state, &head))
	t.Logf("circuit %s, release head %v", state, head)
	rows, err := a.DB.Pool().Query(ctx, `SELECT id::text, status, attempts, manual, coalesce(next_attempt_at::text, '-'), updated_at::text
		FROM deliveries WHERE endpoint_id = $1 ORDER BY created_at`, hookID)
	testenv.Must(t, err)
	defer rows.Close()
	for rows.Next() {
		var id, status, due, updated string
		var attempts int
		var manual bool
		testenv.Must(t, rows.Scan(&id, &status, &attempts, &manual, &due, &updated))
		task := a.Redis.HGetAll(ctx, "asynq:{"+a.Queue.Name()+"}:t:"+id).Val()
		t.Logf("delivery %s: %s, %d attempts, manual %v, due %s, updated %s; task state %q", id, status, attempts, manual, due, updated, task["state"])
	}
	keys, _ := a.Redis.Keys(ctx, "asynq:{"+a.Queue.Name()+"}:t:release:*").Result()
	t.Logf("release tasks: %v", keys)
}

func publishLead(t *testing.T, a *apptest.App, orgID, leadID string) {
	t.Helper()
	r := a.Do(t, "POST", "/api/v1/webhooks/agent-event", apptest.InternalToken,
		`{"type":"new_lead","organization_id":"`+orgID+`","data":{"id":"`+leadID+`","channel":"whatsapp","name":"Jonas Weber"}}`)
	if r.Status != http.StatusAccepted {
		t.Fatalf("publish: %d %s", r.Status, r.Body)
	}
}

// The flow the public docs promise, in a real browser against the real api and
// worker: sign in, add a webhook and see its ping, watch deliveries arrive
// without reloading, follow a failing delivery through its attempts and Retry,
// rotate the secret, delete with a confirmation.
func TestDashboard_ManageAWebhookEndToEnd(t *testing.T) {
	// Retries far apart (2 over 10 minutes), so that a failed delivery waits
	// visibly and only Retry makes new attempts.
	a := apptest.Start(t, apptest.Options{Worker: true, Schedule: webhooks.RetrySchedule{MaxRetries: 2, Window: 10 * time.Minute}})
	orgID, key := a.Org(t, "Albers Steuerberatung")
	recv := newSwitchable(t)
	b := newBrowser(t)
	start := time.Now()

	b.signIn(a, key)
	if got := b.text(".breadcrumb"); !strings.Contains(got, "Settings") || !strings.Contains(got, "Integrations") || !strings.Contains(got, "Webhooks") {
		t.Fatalf("breadcrumb %q", got)
	}
	if strings.Contains(eval[string](b, "location.href"), key) || eval[string](b, "sessionStorage.getItem('empfio.token')") != key {
		t.Fatal("the key must be in sessionStorage and never in the URL")
	}

	// Add webhook: a refused URL shows its error next to the field.
	b.click("#add-webhook")
	b.typeInto("#url", "not a url")
	b.click("#ev-lead-created")
	b.click("#save-webhook")
	b.visible("#err-url")
	if got := b.text("#err-url"); !strings.Contains(got, "absolute URL") {
		t.Fatalf("field error %q", got)
	}
	b.shot("add-webhook-field-error")
	b.typeInto("#url", recv.URL+"/hooks/empfio")
	b.typeInto("#description", "CRM sync")
	b.click("details.field:has(#rl-on) summary")
	b.click("#rl-on")
	b.typeInto("#rl-per-second", "50")
	// A custom header the service sets itself is refused beside its row.
	b.click("details[data-field=headers] summary")
	b.click("#add-header")
	b.typeInto("[data-header-name]", "Host")
	b.typeInto("[data-header-value]", "acme")
	b.click("#save-webhook")
	b.visible("#err-headers-Host")
	b.typeInto("[data-header-name]", "X-Tenant")
	b.click("#save-webhook")
	b.visible("#ping-outcome")
	if got := b.text("#ping-outcome"); !strings.Contains(got, "answered 200") {
		t.Fatalf("ping outcome %q", got)
	}
	secret := b.text("#new-secret")
	pings := recv.Of(webhooks.WebhookPing)
	if !strings.HasPrefix(secret, "whsec_") || len(pings) != 1 || pings[0].Header.Get("X-Tenant") != "acme" {
		t.Fatalf("secret %q, %d pings, X-Tenant %q", secret, len(pings), pings[0].Header.Get("X-Tenant"))
	}
	b.click("#open-webhook")
	b.visible("#deliveries-empty")
	if v := eval[string](b, `document.querySelector('#rl-per-second').value`); v != "50" {
		t.Fatalf("the rate limit set on creation reads %q in the settings", v)
	}
	if v := eval[string](b, `document.querySelector('[data-header-name]').value + ': ' + document.querySelector('[data-header-value]').value`); v != "X-Tenant: acme" {
		t.Fatalf("the header set on creation reads %q in the settings", v)
	}

	// A delivery appears without reloading.
	publishLead(t, a, orgID, "lead-1")
	b.until(15*time.Second, "the delivery shows as succeeded", `document.querySelector('tr[data-delivery-row][data-status=succeeded]')`)

	// A failing receiver: the delivery waits for its next retry; Retry makes new
	// attempts at once, until the schedule is spent.
	recv.failing.Store(true)
	publishLead(t, a, orgID, "lead-2")
	b.until(15*time.Second, "the failed delivery shows as retrying", `document.querySelector('tr[data-delivery-row][data-status=retrying]')`)
	b.click("tr[data-delivery-row][data-status=retrying]")
	b.visible("[data-next-attempt]")
	b.visible(`tr[data-attempt="1"]`)
	for attempt := 2; attempt <= 3; attempt++ {
		b.click(`.delivery-panel button[data-action=retry]`)
		n := strconv.Itoa(attempt)
		b.until(15*time.Second, "attempt "+n+" appears", `document.querySelector('tr[data-attempt="`+n+`"]')`)
	}
	b.until(10*time.Second, "the delivery ends failed", `document.querySelector('tr[data-delivery-row][data-status=failed]')`)
	if got := b.text(`tr[data-attempt="3"]`); !strings.Contains(got, "500") {
		t.Fatalf("attempt 3: %q", got)
	}
	if got := b.text(".delivery-panel"); !strings.Contains(got, `"database is down"`) && !strings.Contains(got, "Body (") {
		t.Fatalf("the response is not shown: %q", got)
	}
	b.shot("delivery-three-attempts")

	// Rotate the secret, under its tab.
	b.click("#tab-secret")
	b.click("#rotate-secret")
	b.until(5*time.Second, "the dialog opens", `document.querySelector('dialog[open]')`)
	b.click(`dialog button[data-value=rotate]`)
	b.until(10*time.Second, "the rotation is confirmed", `(document.querySelector('#rotate-note')||{}).innerText?.includes('accept both until')`)
	var hooks struct{ Data []webhooks.Endpoint }
	a.Do(t, "GET", "/api/v1/webhooks", key, nil).JSON(t, &hooks)
	rotated := a.Do(t, "GET", "/api/v1/webhooks/"+hooks.Data[0].ID+"/secret", key, nil).Map(t)["secret"]
	if rotated == secret || b.text("#secret-value") != rotated {
		t.Fatalf("secret after rotation: page %q, API %v, before %q", b.text("#secret-value"), rotated, secret)
	}

	// The list shows the endpoint's last delivery and its success rate.
	b.click("a[data-nav=webhooks]")
	b.visible("#webhooks-table")
	if got := b.text("#webhooks-table"); !strings.Contains(got, "50 %") || !strings.Contains(got, "failed") {
		t.Fatalf("the list does not show the last outcome and the rate: %q", got)
	}
	b.shot("webhooks-list")
	b.click("tr[data-id='" + hooks.Data[0].ID + "']")

	// Delete, confirming with the URL in view.
	b.click("#delete")
	b.visible("dialog")
	if got := b.text("dialog"); !strings.Contains(got, recv.URL+"/hooks/empfio") {
		t.Fatalf("the confirmation does not name the URL: %q", got)
	}
	b.click(`dialog button[data-value=delete]`)
	b.visible("#webhooks-empty")
	if r := a.Do(t, "GET", "/api/v1/webhooks/"+hooks.Data[0].ID, key, nil); r.Status != http.StatusNotFound {
		t.Fatalf("deleted webhook: %d", r.Status)
	}

	// The list with a webhook, on a laptop and at phone width.
	a.Webhook(t, key, recv.URL+"/second", "*")
	b.do("reload", chromedp.Reload())
	b.visible("#webhooks-table")
	b.do("phone width", emulatePhone())
	b.do("reload", chromedp.Reload())
	b.visible("#webhooks-table")
	if overflow := eval[bool](b, "document.documentElement.scrollWidth > window.innerWidth + 1"); overflow {
		t.Error("the list scrolls sideways at 375 px")
	}
	b.shot("webhooks-list-phone")

	// Sign out forgets the key.
	b.click("#sign-out")
	b.visible("#api-key")
	if eval[bool](b, "sessionStorage.getItem('empfio.token') !== null") {
		t.Fatal("sign out kept the key")
	}
	if errs := b.consoleErrors(); len(errs) > 0 {
		t.Fatalf("%d console errors: %v", len(errs), errs)
	}
	t.Logf("end-to-end flow took %s", time.Since(start).Round(time.Millisecond))
}

// A read-only portal link shows everything and offers no way to change
// anything; an expired or forged one says so and whom to ask, not a form for
// a key its viewer does not have (though one who has a key can sign in).
func TestDashboard_PortalLinks(t *testing.T) {
	a := apptest.Start(t, apptest.Options{Worker: true})
	orgID, key := a.Org(t, "Portal GmbH")
	recv := newSwitchable(t)
	hookID, _ := a.Webhook(t, key, recv.URL, "*")
	publishLead(t, a, orgID, "lead-1")
	r := a.Do(t, "POST", "/api/v1/portal-sessions", key, map[string]any{"read_only": true})
	if r.Status != http.StatusCreated {
		t.Fatalf("portal session: %d %s", r.Status, r.Body)
	}
	url := r.Map(t)["url"].(string)
	b := newBrowser(t)

	b.navigate(url)
	b.visible("#webhooks-table")
	if got := eval[string](b, "location.href"); strings.Contains(got, webhooks.PortalTokenPrefix) {
		t.Fatalf("the token stayed in the address bar: %s", got)
	}
	b.visible("#read-only")
	for _, sel := range []string{"#add-webhook", "#sign-out:not([hidden])"} {
		if eval[bool](b, "!!document.querySelector('"+sel+"')") {
			t.Errorf("a read-only link shows %s", sel)
		}
	}
	b.click("tr[data-id='" + hookID + "']")
	b.until(15*time.Second, "the delivery shows", `document.querySelector('tr[data-delivery-row][data-status=succeeded]')`)
	b.click("tr[data-delivery-row]")
	b.visible(".delivery-panel")
	for _, sel := range []string{"#send-test", "#delete", "#disable", "#enable", "#webhook-form", "#reveal-secret", "#rotate-secret", "#replay", "button[data-action=retry]"} {
		if eval[bool](b, "!!document.querySelector('"+sel+"')") {
			t.Errorf("a read-only link offers %s", sel)
		}
	}
	b.navigate(a.URL + "/dashboard/#/webhooks/new")
	b.visible("#webhooks-table")

	for name, link := range map[string]string{
		"forged":  a.URL + "/dashboard/#portal=" + webhooks.PortalTokenPrefix + "forgedforgedforgedforgedforgedforged1234",
		"expired": expiredLink(t, a, key),
	} {
		b2 := newBrowser(t)
		b2.navigate(link)
		b2.visible("#link-expired")
		if got := b2.text("#link-expired"); !strings.Contains(got, "expired") || !strings.Contains(got, "ask") {
			t.Errorf("%s link: the page says %q", name, got)
		}
		if eval[bool](b2, `!!document.querySelector('#api-key')`) {
			t.Errorf("%s link: an API key form is shown", name)
		}
		b2.click("#sign-in-instead")
		b2.visible("#api-key")
		if errs := b2.consoleErrors(); len(errs) > 0 {
			t.Errorf("%s link: console errors %v", name, errs)
		}
	}
	if errs := b.consoleErrors(); len(errs) > 0 {
		t.Fatalf("%d console errors: %v", len(errs), errs)
	}
}

func expiredLink(t *testing.T, a *apptest.App, key string) string {
	r := a.Do(t, "POST", "/api/v1/portal-sessions", key, map[string]any{"ttl": "1m"})
	if r.Status != http.StatusCreated {
		t.Fatalf("portal session: %d", r.Status)
	}
	_, err := a.DB.Pool().Exec(t.Context(), `UPDATE portal_sessions SET expires_at = now() - interval '1 second'`)
	testenv.Must(t, err)
	return r.Map(t)["url"].(string)
}

// The Cal.com page gives the organization its own subscriber URL and secret,
// with the steps to paste them into Cal.com; a booking signed with that secret
// and posted there is accepted.
func TestDashboard_ConnectCalcom(t *testing.T) {
	a := apptest.Start(t, apptest.Options{})
	_, key := a.Org(t, "Kalender GmbH")
	b := newBrowser(t)
	b.signIn(a, key)
	b.click("a[data-nav=integrations]")
	b.visible("#connect-calcom")
	if got := b.text("#calcom-status"); !strings.Contains(got, "Not connected") {
		t.Fatalf("status before connecting: %q", got)
	}
	b.click("#connect-calcom")
	b.visible("#calcom-url")
	if got := b.text("#calcom-status"); strings.Contains(got, "Not connected") || !strings.Contains(got, "Connected") {
		t.Fatalf("status right after connecting: %q", got)
	}
	url, secret := b.text("#calcom-url"), b.text("#calcom-secret")
	if !strings.HasPrefix(url, a.URL+"/api/v1/webhooks/calcom/cal_") || !strings.Contains(b.text("#calcom-result"), "Settings → Developer → Webhooks") {
		t.Fatalf("credentials %q, steps %q", url, b.text("#calcom-result"))
	}
	body := []byte(`{"triggerEvent":"PING","createdAt":"2026-03-07T10:30:00Z","payload":{}}`)
	r := apptest.Request(t, "POST", url, body, map[string]string{"Content-Type": "application/json", "X-Cal-Signature-256": webhooks.Sign(secret, body)})
	if r.Status != http.StatusOK {
		t.Fatalf("a ping to the new URL: %d %s", r.Status, r.Body)
	}
	b.shot("calcom-connect")
	if errs := b.consoleErrors(); len(errs) > 0 {
		t.Fatalf("%d console errors: %v", len(errs), errs)
	}
}

// An endpoint whose circuit opened shows as paused, with what is held and when
// the next probe goes; enabling it again after it was disabled offers to send
// what was held and what failed, and does.
func TestDashboard_PausedEndpointAndEnablingWithReplay(t *testing.T) {
	a := apptest.Start(t, apptest.Options{Worker: true,
		Schedule: webhooks.RetrySchedule{MaxRetries: 0, Window: time.Second},
		Breaker:  webhooks.Breaker{Failures: 2, ProbeInterval: 10 * time.Minute, DisableAfter: time.Hour}})
	orgID, key := a.Org(t, "Paused")
	b := newBrowser(t)
	b.signIn(a, key)
	recv := newSwitchable(t)
	recv.failing.Store(true)
	hookID, _ := a.Webhook(t, key, recv.URL+"/hooks", "*")
	pauseWithOneHeld(t, a, orgID, key, hookID)

	b.do("reload", chromedp.Reload())
	b.visible("#webhooks-table")
	if got := b.text("#webhooks-table"); !strings.Contains(got, "Paused") || !strings.Contains(got, "1 held") {
		t.Fatalf("the list does not show the paused endpoint: %q", got)
	}
	b.click("tr[data-id='" + hookID + "']")
	b.visible("#circuit-notice")
	if got := b.text("#circuit-notice"); !strings.Contains(got, "paused") || !strings.Contains(got, "2 times in a row") ||
		!strings.Contains(got, "1 delivery is held") || strings.Contains(got, "[object") || !strings.Contains(got, "tried again in") {
		t.Fatalf("circuit notice %q", got)
	}
	b.shot("webhook-paused")

	// Disabled (as ENDPOINT_DISABLE_AFTER would), then enabled with a replay.
	a.Do(t, "PATCH", "/api/v1/webhooks/"+hookID, key, map[string]any{"enabled": false})
	recv.failing.Store(false)
	b.do("reload", chromedp.Reload())
	b.visible("#enable")
	b.click("#enable")
	b.visible("#replay-choice")
	eval[bool](b, `(document.querySelector('#replay-choice').value = 'held_and_failed') !== ''`)
	t.Cleanup(func() { explainRelease(t, a, hookID) })
	b.click(`dialog button[data-value=enable]`)
	testenv.Eventually(t, 10*time.Second, "the endpoint is enabled", func() bool {
		var e webhooks.Endpoint
		a.Do(t, "GET", "/api/v1/webhooks/"+hookID, key, nil).JSON(t, &e)
		return e.Enabled
	})
	// Released one at a time, each after the attempt before it (alone: about
	// 2 s). It once missed the first lead: the run of failures began with the
	// second, recorded first (TestBreaker_FailingSinceIsTheEarliestFailedAttempt).
	testenv.Eventually(t, 30*time.Second, "all three leads delivered", func() bool {
		return len(recv.Of(webhooks.LeadCreated)) >= 5 // two failed attempts, then three successes
	})
	testenv.Eventually(t, 10*time.Second, "every delivery succeeded", func() bool {
		var n int
		testenv.Must(t, a.DB.Pool().QueryRow(t.Context(), `SELECT count(*) FROM deliveries WHERE endpoint_id = $1 AND status = 'succeeded'`, hookID).Scan(&n))
		return n == 3
	})
	if errs := b.consoleErrors(); len(errs) > 0 {
		t.Fatalf("%d console errors: %v", len(errs), errs)
	}
}
