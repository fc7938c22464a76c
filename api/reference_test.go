package api_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/empfio/webhooks/internal/testing/apptest"
)

// /docs/ serves the API reference page and, of the vendored renderer, only the
// two files it loads, all from this origin under a policy that allows no
// other; the rest of the renderer's distribution is not served.
func TestReference_ServedFromThisOriginOnly(t *testing.T) {
	a := apptest.Start(t, apptest.Options{})
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noRedirect.Get(a.URL + "/docs")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMovedPermanently || resp.Header.Get("Location") != "/docs/" {
		t.Fatalf("/docs: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	for path, want := range map[string]string{
		"/docs/":                     "text/html",
		"/docs/reference.js":         "javascript",
		"/docs/reference.css":        "text/css",
		"/docs/swagger-ui-bundle.js": "javascript",
		"/docs/swagger-ui.css":       "text/css",
	} {
		r := apptest.Request(t, "GET", a.URL+path, nil, nil)
		csp := r.Header.Get("Content-Security-Policy")
		if r.Status != http.StatusOK || !strings.Contains(r.Header.Get("Content-Type"), want) || len(r.Body) == 0 {
			t.Errorf("%s: %d %q, %d bytes", path, r.Status, r.Header.Get("Content-Type"), len(r.Body))
		}
		if !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "script-src 'self';") || !strings.Contains(csp, "connect-src 'self'") {
			t.Errorf("%s: policy %q", path, csp)
		}
	}
	page := apptest.Request(t, "GET", a.URL+"/docs/", nil, nil)
	if !strings.Contains(string(page.Body), `src="swagger-ui-bundle.js"`) || strings.Contains(string(page.Body), "//cdn") {
		t.Fatalf("the page loads %s", page.Body)
	}
	for _, other := range []string{"/docs/swagger-ui-standalone-preset.js", "/docs/index.css", "/docs/swagger-initializer.js", "/docs/../go.mod"} {
		if r := apptest.Request(t, "GET", a.URL+other, nil, nil); r.Status != http.StatusNotFound {
			t.Errorf("%s: %d; want 404", other, r.Status)
		}
	}
}
