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

// The alert rules load in promtool (when installed) and use only metrics the
// code defines.
func TestAlertRules(t *testing.T) {
	const file = "prometheus/alerts.yml"
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if n := checkNames(t, file, string(b), metricNames(t)); n < 6 {
		t.Fatalf("%s uses only %d metrics", file, n)
	}
	for _, alert := range []string{"EmpfioDeliveriesFailing", "EmpfioQueueGrowing", "EmpfioSweeperRecovering", "EmpfioEndpointDisabled"} {
		if !strings.Contains(string(b), "alert: "+alert) {
			t.Errorf("%s lost the %s alert", file, alert)
		}
	}
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool is not installed (scripts/promtool.sh installs it with apt): the rules' syntax was not checked")
	}
	out, err := exec.Command(promtool, "check", "rules", file).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
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
