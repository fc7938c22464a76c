package verify_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	webhooks "github.com/empfio/webhooks"
	"github.com/empfio/webhooks/internal/testing/apptest"
	"github.com/empfio/webhooks/internal/testing/testenv"
)

// readmeSnippets returns the fenced code blocks of the README's "Verify a
// signature" section, by language, in order.
func readmeSnippets(t *testing.T) map[string][]string {
	t.Helper()
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	start := strings.Index(s, "### Verify a signature")
	if start < 0 {
		t.Fatal(`README has no "### Verify a signature" section`)
	}
	section := s[start:]
	if end := strings.Index(section[4:], "\n## "); end >= 0 {
		section = section[:end+4]
	}
	out := map[string][]string{}
	for _, m := range regexp.MustCompile("(?s)```(\\w+)\n(.*?)```").FindAllStringSubmatch(section, -1) {
		out[m[1]] = append(out[m[1]], m[2])
	}
	return out
}

// realDelivery returns the body and headers of one delivery of a real app,
// and the endpoint's secret.
func realDelivery(t *testing.T) (body []byte, h http.Header, secret string) {
	t.Helper()
	a := apptest.Start(t, apptest.Options{Worker: true})
	orgID, key := a.Org(t, "Docs")
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Empfio-Event") == webhooks.LeadCreated {
			var buf bytes.Buffer
			buf.ReadFrom(r.Body)
			mu.Lock()
			body, h = buf.Bytes(), r.Header.Clone()
			mu.Unlock()
		}
	}))
	t.Cleanup(srv.Close)
	_, secret = a.Webhook(t, key, srv.URL, webhooks.LeadCreated)
	r := a.Do(t, "POST", "/api/v1/events", apptest.InternalToken, map[string]any{
		"event": webhooks.LeadCreated, "organization_id": orgID,
		"data": map[string]any{"id": "l1", "channel": "web", "name": "Jonas Weber — Ümlaut"}})
	if r.Status != http.StatusAccepted {
		t.Fatalf("publish: %d %s", r.Status, r.Body)
	}
	testenv.Eventually(t, 10*time.Second, "the delivery arrives", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return body != nil
	})
	mu.Lock()
	defer mu.Unlock()
	return body, h, secret
}

// runner runs one README snippet on a body file with SECRET and HEADER set and
// returns what it printed.
type runner func(t *testing.T, dir, bodyFile string, env []string) string

func command(t *testing.T, dir string, env []string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir, cmd.Env = dir, append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil && !strings.Contains(string(out), "invalid") && len(out) > 0 {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
	return strings.TrimSpace(string(out))
}

func write(t *testing.T, dir, name, text string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	testenv.Must(t, os.WriteFile(p, []byte(text), 0o644))
	return p
}

// The README's verification snippets, each run as written on a real
// delivery: it says valid; on the same delivery with one byte changed, it says
// invalid. Go always runs; Node, Python and openssl when installed (and the
// standardwebhooks npm package when scripts/test.sh installed it).
func TestREADME_VerificationSnippetsWorkOnARealDelivery(t *testing.T) {
	snippets := readmeSnippets(t)
	for _, lang := range []string{"go", "js", "python", "sh"} {
		if len(snippets[lang]) == 0 {
			t.Fatalf("no %s snippet in the README's verification section", lang)
		}
	}
	if len(snippets["js"]) < 2 {
		t.Fatal("the README lost its standardwebhooks (Node) snippet")
	}
	body, headers, secret := realDelivery(t)
	tampered := bytes.Replace(body, []byte("Jonas"), []byte("Jonah"), 1)
	npmModules, _ := filepath.Abs("../.data/npm/node_modules")

	runners := map[string]struct {
		tool string
		run  runner
	}{
		"go": {"go", func(t *testing.T, dir, bodyFile string, env []string) string {
			write(t, dir, "main.go", "package main\n\nimport (\n\t\"crypto/hmac\"\n\t\"crypto/sha256\"\n\t\"encoding/hex\"\n\t\"fmt\"\n\t\"os\"\n)\n\n"+
				snippets["go"][0]+"\nfunc main() {\n\tbody, _ := os.ReadFile(os.Args[1])\n\tif verify(os.Getenv(\"SECRET\"), body, os.Getenv(\"HEADER\")) {\n\t\tfmt.Println(\"valid\")\n\t} else {\n\t\tfmt.Println(\"invalid\")\n\t}\n}\n")
			return command(t, dir, append(env, "GO111MODULE=off", "GOFLAGS="), "go", "run", "main.go", bodyFile)
		}},
		"node": {"node", func(t *testing.T, dir, bodyFile string, env []string) string {
			write(t, dir, "verify.js", snippets["js"][0]+
				"\nconsole.log(verify(process.env.SECRET, require('fs').readFileSync(process.argv[2]), process.env.HEADER) ? 'valid' : 'invalid');\n")
			return command(t, dir, env, "node", "verify.js", bodyFile)
		}},
		"node standardwebhooks": {"node", func(t *testing.T, dir, bodyFile string, env []string) string {
			if _, err := os.Stat(filepath.Join(npmModules, "standardwebhooks")); err != nil {
				t.Skip("the standardwebhooks npm package is not installed (scripts/test.sh installs it where npm is)")
			}
			write(t, dir, "verify_standard.js", snippets["js"][1]+
				"\nconst hs = JSON.parse(process.env.HEADERS);\nconsole.log(verifyStandard(process.env.SECRET, require('fs').readFileSync(process.argv[2], 'utf8'), hs) ? 'valid' : 'invalid');\n")
			return command(t, dir, append(env, "NODE_PATH="+npmModules), "node", "verify_standard.js", bodyFile)
		}},
		"python": {"python3", func(t *testing.T, dir, bodyFile string, env []string) string {
			write(t, dir, "verify.py", snippets["python"][0]+
				"\nimport os, sys\nprint('valid' if verify(os.environ['SECRET'], open(sys.argv[1], 'rb').read(), os.environ['HEADER']) else 'invalid')\n")
			return command(t, dir, env, "python3", "verify.py", bodyFile)
		}},
		"openssl": {"openssl", func(t *testing.T, dir, bodyFile string, env []string) string {
			b, err := os.ReadFile(bodyFile)
			testenv.Must(t, err)
			script := snippets["sh"][0] + "\n[ \"$SIG\" = \"$HEADER\" ] || echo invalid\n"
			return command(t, dir, append(env, "BODY="+string(b)), "sh", "-c", script)
		}},
	}
	standardHeaders := `{"webhook-id":` + quote(headers.Get("webhook-id")) + `,"webhook-timestamp":` + quote(headers.Get("webhook-timestamp")) +
		`,"webhook-signature":` + quote(headers.Get("webhook-signature")) + `}`
	for name, r := range runners {
		t.Run(name, func(t *testing.T) {
			if _, err := exec.LookPath(r.tool); err != nil {
				t.Skipf("%s is not installed", r.tool)
			}
			dir := t.TempDir()
			env := []string{"SECRET=" + secret, "HEADER=" + headers.Get("X-Empfio-Signature"), "HEADERS=" + standardHeaders}
			if got := r.run(t, dir, write(t, dir, "body.json", string(body)), env); got != "valid" {
				t.Fatalf("on the real delivery it printed %q, want valid", got)
			}
			if got := r.run(t, dir, write(t, dir, "tampered.json", string(tampered)), env); got != "invalid" {
				t.Fatalf("on a changed body it printed %q, want invalid", got)
			}
			t.Logf("%s: valid on the real delivery, invalid with one byte changed", name)
		})
	}
}

func quote(s string) string { return `"` + strings.ReplaceAll(s, `"`, `\"`) + `"` }
