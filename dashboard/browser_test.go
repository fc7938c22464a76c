package dashboard_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/empfio/webhooks/internal/testing/apptest"
	"github.com/empfio/webhooks/internal/testing/testenv"
)

// screenshotDir is where the browser tests leave their screenshots (git-ignored).
const screenshotDir = "../screenshots"

// browser is a headless Chromium tab driven over the DevTools protocol. Every
// console error, uncaught exception and failed load of the page is collected.
type browser struct {
	t    *testing.T
	ctx  context.Context
	mu   sync.Mutex
	errs []string
}

// chromiumPath finds Debian's chromium; make test installs it.
func chromiumPath(t *testing.T) string {
	for _, name := range []string{os.Getenv("CHROMIUM"), "chromium", "chromium-browser", "google-chrome"} {
		if name == "" {
			continue
		}
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("no Chromium found: install Debian's chromium package (make test does, with apt-get) or set CHROMIUM")
	return ""
}

// newBrowser starts a Chromium of its own, with an empty profile, until t ends.
func newBrowser(t *testing.T) *browser {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("headless", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), append(chromedp.DefaultExecAllocatorOptions[:], opts...)...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	b := &browser{t: t, ctx: ctx}
	exceptions := chromedp.Events(ctx, runtime.ExceptionThrown)
	console := chromedp.Events(ctx, runtime.ConsoleAPICalled)
	entries := chromedp.Events(ctx, log.EntryAdded)
	go func() {
		for ev, err := range exceptions {
			if err != nil {
				return
			}
			b.fail("exception: " + ev.ExceptionDetails.Text + " " + describe(ev.ExceptionDetails.Exception))
		}
	}()
	go func() {
		for ev, err := range console {
			if err != nil {
				return
			}
			if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeAssert {
				var args []string
				for _, a := range ev.Args {
					args = append(args, describe(a))
				}
				b.fail("console." + string(ev.Type) + ": " + strings.Join(args, " "))
			}
		}
	}()
	go func() {
		for ev, err := range entries {
			if err != nil {
				return
			}
			if ev.Entry.Level == log.EntryLevelError && !expectedLoadError(ev.Entry) {
				b.fail("log: " + ev.Entry.Text + " " + ev.Entry.URL)
			}
		}
	}()
	return b
}

// expectedLoadError tells the answers the tests cause on purpose (a refused key,
// a forged link, a field the server refuses) from real errors: Chromium logs
// every 4xx of a fetch.
func expectedLoadError(e *log.Entry) bool {
	return e.Source == log.EntrySourceNetwork && strings.Contains(e.URL, "/api/v1/") &&
		(strings.Contains(e.Text, "401") || strings.Contains(e.Text, "422"))
}

func describe(o *runtime.RemoteObject) string {
	if o == nil {
		return ""
	}
	if o.Description != "" {
		return o.Description
	}
	return string(o.Value)
}

func (b *browser) fail(msg string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.errs = append(b.errs, msg)
}

// consoleErrors returns what went wrong in the page so far.
func (b *browser) consoleErrors() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.errs...)
}

// do runs actions with a deadline.
func (b *browser) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.shot("failed-" + strings.ReplaceAll(what, " ", "-"))
		b.t.Fatalf("%s: %v (page errors: %v)", what, err, b.consoleErrors())
	}
}

func (b *browser) navigate(url string) { b.t.Helper(); b.do("open "+url, chromedp.Navigate(url)) }
func (b *browser) click(sel string) {
	b.t.Helper()
	b.do("click "+sel, chromedp.WaitVisible(chromedp.CSS(sel)), chromedp.Click(chromedp.CSS(sel)))
}
func (b *browser) visible(sel string) {
	b.t.Helper()
	b.do("see "+sel, chromedp.WaitVisible(chromedp.CSS(sel)))
}
func (b *browser) typeInto(sel, text string) {
	b.t.Helper()
	b.visible(sel)
	eval[bool](b, fmt.Sprintf(`(document.querySelector(%q).value = "") === ""`, sel))
	b.do("type into "+sel, chromedp.SendKeys(chromedp.CSS(sel), text))
}

// eval returns the value of a JavaScript expression in the page.
func eval[T any](b *browser, js string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", js, err)
	}
	return v
}

// until waits for a JavaScript condition to hold in the page.
func (b *browser) until(timeout time.Duration, what, js string) {
	b.t.Helper()
	testenv.Eventually(b.t, timeout, what, func() bool { return eval[bool](b, "!!("+js+")") })
}

// text returns the text of the first element that matches sel ("" if none).
func (b *browser) text(sel string) string {
	b.t.Helper()
	return eval[string](b, fmt.Sprintf(`(document.querySelector(%q) || {}).innerText || ""`, sel))
}

// shot saves a full-page screenshot as name.png.
func (b *browser) shot(name string) {
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Logf("screenshot %s: %v", name, err)
		return
	}
	if err := os.MkdirAll(screenshotDir, 0o755); err == nil {
		path := filepath.Join(screenshotDir, name+".png")
		if err := os.WriteFile(path, png, 0o644); err == nil {
			b.t.Logf("screenshot: %s", path)
		}
	}
}

// emulatePhone makes the viewport a phone's: 375 px wide.
func emulatePhone() chromedp.Action[chromedp.Void] {
	return chromedp.EmulateViewport(375, 812, chromedp.EmulateMobile)
}

// signIn opens the dashboard of a, signs in with key, and waits for the (empty)
// list of webhooks.
func (b *browser) signIn(a *apptest.App, key string) {
	b.t.Helper()
	b.navigate(a.URL + "/dashboard/")
	b.typeInto("#api-key", key)
	b.click(`form button[type=submit]`)
	b.visible("#webhooks-empty")
}
