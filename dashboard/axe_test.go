package dashboard_test

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	webhooks "github.com/empfio/webhooks"
	"github.com/empfio/webhooks/internal/testing/apptest"
	"github.com/empfio/webhooks/internal/testing/testenv"
)

// axeScript is axe-core, installed by scripts/npm.sh (make test) and
// injected into each page by the test: never fetched by the dashboard.
const axeScript = "../.data/npm/node_modules/axe-core/axe.min.js"

// violation is what axe-core reports of one rule a page breaks.
type violation struct {
	ID     string `json:"id"`
	Impact string `json:"impact"`
	Help   string `json:"help"`
	Nodes  []struct {
		Target []any `json:"target"`
	} `json:"nodes"`
}

// axe runs axe-core on the page as it is and fails t for every serious or
// critical violation, naming page.
func (b *browser) axe(page string) {
	b.t.Helper()
	src, err := os.ReadFile(axeScript)
	if err != nil {
		b.t.Fatalf("axe-core is not installed (%v): run scripts/npm.sh (make test does)", err)
	}
	if !eval[bool](b, `typeof axe === 'object'`) {
		eval[bool](b, string(src)+"\n;true") // DevTools evaluation: not subject to the page's CSP
	}
	out, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](`axe.run(document, { resultTypes: ['violations'] }).then((r) => JSON.stringify(r.violations))`,
		chromedp.EvalAwaitPromise))
	if err != nil {
		b.t.Fatalf("axe on %s: %v", page, err)
	}
	var vs []violation
	if err := json.Unmarshal([]byte(out), &vs); err != nil {
		b.t.Fatalf("axe on %s: %v", page, err)
	}
	serious := 0
	for _, v := range vs {
		var where []string
		for _, n := range v.Nodes {
			where = append(where, fmt.Sprint(n.Target...))
		}
		line := fmt.Sprintf("%s: %s (%s) %s at %s", page, v.ID, v.Impact, v.Help, strings.Join(where, ", "))
		if v.Impact == "serious" || v.Impact == "critical" {
			serious++
			b.t.Error(line)
		} else {
			b.t.Log(line)
		}
	}
	b.t.Logf("axe: %s: %d violations, %d serious or critical", page, len(vs), serious)
}

// Every page of the dashboard, at desktop and phone width and through a
// portal link, has no serious or critical accessibility violation (axe-core),
// and every control can be reached with the keyboard and shows its focus.
func TestDashboard_AccessibleOnEveryPage(t *testing.T) {
	a := apptest.Start(t, apptest.Options{Worker: true, Schedule: webhooks.RetrySchedule{MaxRetries: 0, Window: time.Second}})
	orgID, key := a.Org(t, "Accessible")
	recv := newSwitchable(t)
	hookID, _ := a.Webhook(t, key, recv.URL, "lead.*")
	publishLead(t, a, orgID, "lead-1")
	recv.failing.Store(true)
	publishLead(t, a, orgID, "lead-2")
	testenv.Eventually(t, 15*time.Second, "two deliveries final", func() bool {
		var log struct{ Data []webhooks.Delivery }
		a.Do(t, "GET", "/api/v1/webhooks/"+hookID+"/deliveries", key, nil).JSON(t, &log)
		return len(log.Data) == 2 && webhooks.IsFinalStatus(log.Data[0].Status) && webhooks.IsFinalStatus(log.Data[1].Status)
	})
	var events struct{ Data []webhooks.Event }
	a.Do(t, "GET", "/api/v1/events", key, nil).JSON(t, &events)

	b := newBrowser(t)
	b.navigate(a.URL + "/dashboard/")
	b.visible("#api-key")
	b.axe("sign-in")
	b.typeInto("#api-key", key)
	b.click(`form button[type=submit]`)
	pages := func(width string) {
		b.navigate(a.URL + "/dashboard/#/webhooks")
		b.visible("#webhooks-table")
		b.axe(width + " webhooks")
		b.navigate(a.URL + "/dashboard/#/webhooks/new")
		b.visible("#webhook-form")
		b.axe(width + " add webhook")
		b.navigate(a.URL + "/dashboard/#/webhooks/" + hookID)
		b.visible(`svg[data-chart=deliveries]`)
		b.click("tr[data-delivery-row]")
		b.visible(".delivery-panel h3")
		b.axe(width + " webhook: deliveries, one open")
		b.click("#tab-settings")
		b.axe(width + " webhook: settings")
		b.click("#tab-secret")
		b.axe(width + " webhook: secret")
		b.navigate(a.URL + "/dashboard/#/events")
		b.visible("#events-table")
		b.axe(width + " events")
		b.navigate(a.URL + "/dashboard/#/events/" + events.Data[0].ID)
		b.visible(".kv")
		b.axe(width + " event")
		b.navigate(a.URL + "/dashboard/#/integrations/calcom")
		b.visible("#calcom-status")
		b.axe(width + " Cal.com")
	}
	pages("desktop:")

	// Every control is reached by Tab, and shows where the focus is: the
	// page is walked with real Tab key presses (what :focus-visible answers).
	b.navigate(a.URL + "/dashboard/#/webhooks/" + hookID)
	b.visible(`svg[data-chart=deliveries]`)
	eval[bool](b, `(window.__seen = new Set(), window.__noRing = [], document.activeElement.blur(), true)`)
	for range 120 {
		b.do("Tab", chromedp.KeyEvent(kb.Tab))
		eval[int](b, `(() => {
			const el = document.activeElement;
			if (el && el !== document.body && !__seen.has(el)) {
				__seen.add(el);
				const s = getComputedStyle(el);
				if ((s.outlineStyle === 'none' || s.outlineWidth === '0px') && s.boxShadow === 'none') __noRing.push(el.outerHTML.slice(0, 70));
			}
			return __seen.size;
		})()`)
	}
	if got := eval[string](b, `__noRing.join(' | ')`); got != "" {
		t.Errorf("controls that show no focus: %s", got)
	}
	if got := eval[string](b, `[...document.querySelectorAll('a[href], button, input, select, textarea, [tabindex]')]
		.filter((el) => !el.disabled && el.tabIndex >= 0 && el.offsetParent !== null && !__seen.has(el))
		.map((el) => el.outerHTML.slice(0, 70)).join(' | ')`); got != "" {
		t.Errorf("controls Tab never reached: %s", got)
	}

	b.do("phone", emulatePhone())
	pages("phone:")
	b.do("desktop", chromedp.EmulateReset())

	r := a.Do(t, "POST", "/api/v1/portal-sessions", key, map[string]any{"read_only": true})
	b2 := newBrowser(t)
	b2.navigate(r.Map(t)["url"].(string))
	b2.visible("#webhooks-table")
	b2.axe("portal: webhooks")
	b2.navigate(a.URL + "/dashboard/#/webhooks/" + hookID)
	b2.visible(`svg[data-chart=deliveries]`)
	b2.axe("portal: webhook")
}
