// Package deploy holds what operators deploy beside the service: Prometheus
// alert rules and a Grafana dashboard. Its test keeps them true to the code.
package deploy_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// metricNames returns the empfio_ metric names the code defines.
func metricNames(t *testing.T) map[string]bool {
	t.Helper()
	names := map[string]bool{}
	def := regexp.MustCompile(`(?:Name:\s*|NewDesc\()"(empfio_[a-z_]+)"`)
	err := filepath.WalkDir("..", func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".data" || d.Name() == ".git" || d.Name() == "node_modules") {
			return filepath.SkipDir
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range def.FindAllStringSubmatch(string(b), -1) {
			names[m[1]] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(names) < 10 {
		t.Fatalf("found only %d metric definitions: the scan is broken", len(names))
	}
	return names
}

// checkNames fails for every empfio_ series in text the code does not define.
func checkNames(t *testing.T, file, text string, names map[string]bool) int {
	t.Helper()
	used := regexp.MustCompile(`empfio_[a-z_]+`).FindAllString(text, -1)
	for _, u := range used {
		base := u
		for _, suffix := range []string{"_bucket", "_count", "_sum"} {
			if b, ok := strings.CutSuffix(u, suffix); ok && names[b] {
				base = b
			}
		}
		if !names[base] {
			t.Errorf("%s uses %s, which no code defines", file, u)
		}
	}
	return len(used)
}

// The alert rules use only metrics the code defines; each has a runbook
// section in docs/operations.md and a test that it fires and one that it does
// not (alerts_test.yml); promtool (when installed: make test installs it)
// loads the rules and passes their tests.
func TestAlertRules(t *testing.T) {
	const file, tests = "prometheus/alerts.yml", "prometheus/alerts_test.yml"
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	rules := string(b)
	if n := checkNames(t, file, rules, metricNames(t)); n < 6 {
		t.Fatalf("%s uses only %d metrics", file, n)
	}
	tb, err := os.ReadFile(tests)
	if err != nil {
		t.Fatal(err)
	}
	ops, err := os.ReadFile("../docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	alerts := regexp.MustCompile(`(?m)^\s+- alert: (\w+)$`).FindAllStringSubmatch(rules, -1)
	if len(alerts) < 11 {
		t.Fatalf("%s has %d alerts", file, len(alerts))
	}
	for _, a := range alerts {
		name := a[1]
		quiet := regexp.MustCompile(`alertname: ` + name + `, exp_alerts: \[\]`)
		fires := regexp.MustCompile(`alertname: ` + name + `\n\s+exp_alerts:\n\s+- exp_labels`)
		if !quiet.Match(tb) || !fires.Match(tb) {
			t.Errorf("%s: %s lacks a test that it fires (%v) or one that it does not (%v)", name, tests, fires.Match(tb), quiet.Match(tb))
		}
	}
	sections := map[string]bool{} // the anchors GitHub gives the headings
	for _, h := range regexp.MustCompile(`(?m)^##+ (.+)$`).FindAllStringSubmatch(string(ops), -1) {
		slug := strings.ReplaceAll(strings.ToLower(h[1]), " ", "-")
		sections[regexp.MustCompile(`[^a-z0-9_-]`).ReplaceAllString(slug, "")] = true
	}
	for _, m := range regexp.MustCompile(`runbook_url: "[^"#]*#([a-z-]+)"`).FindAllStringSubmatch(rules, -1) {
		if !sections[m[1]] {
			t.Errorf("runbook %s: no such section in docs/operations.md", m[1])
		}
	}
	if n := strings.Count(rules, "runbook_url:"); n != len(alerts) {
		t.Errorf("%d runbook_urls for %d alerts", n, len(alerts))
	}
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool is not installed (scripts/promtool.sh installs it with apt): the rules were not loaded nor tested")
	}
	out, err := exec.Command(promtool, "check", "rules", file).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}
	out, err = exec.Command(promtool, "test", "rules", tests).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool test rules: %v\n%s", err, out)
	}
	t.Logf("promtool: %s", strings.TrimSpace(string(out)))
}

// The Grafana dashboard is valid JSON whose every panel queries metrics the
// code defines.
func TestGrafanaDashboard(t *testing.T) {
	const file = "grafana/empfio-webhooks.json"
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		UID    string
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatal(err)
	}
	names := metricNames(t)
	if dash.UID == "" || len(dash.Panels) < 8 {
		t.Fatalf("dashboard uid %q, %d panels", dash.UID, len(dash.Panels))
	}
	for _, p := range dash.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q queries nothing", p.Title)
		}
		for _, q := range p.Targets {
			if checkNames(t, file, q.Expr, names) == 0 {
				t.Errorf("panel %q: %q uses no empfio metric", p.Title, q.Expr)
			}
		}
	}
}

// The Helm chart's autoscaler and the operations guide's adapter rule name a
// metric the workers export.
func TestChartScalesOnAMetricTheWorkersExport(t *testing.T) {
	names := metricNames(t)
	for _, file := range []string{"helm/empfio/values.yaml", "../docs/operations.md"} {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if n := checkNames(t, file, string(b), names); n == 0 {
			t.Errorf("%s names no metric", file)
		}
	}
}
