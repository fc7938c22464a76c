package deploy_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// docker compose starts something usable: every service restarts and has a
// healthcheck, the api and worker refuse to start without their tokens and
// key (":?"), the worker serves its metrics, the image is built with a
// version, and every variable compose reads is in .env.example. (No Docker
// engine here: the file is checked by reading it.)
func TestCompose_StartsSomethingUsable(t *testing.T) {
	b, err := os.ReadFile("../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var compose struct {
		Services map[string]struct {
			Restart     string         `yaml:"restart"`
			Healthcheck map[string]any `yaml:"healthcheck"`
			Environment map[string]any `yaml:"environment"`
			Build       struct {
				Args map[string]string `yaml:"args"`
			} `yaml:"build"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(b, &compose); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"postgres", "redis", "api", "worker"} {
		s, ok := compose.Services[name]
		if !ok || s.Restart == "" || s.Healthcheck["test"] == nil {
			t.Errorf("service %s: present %v, restart %q, healthcheck %v", name, ok, s.Restart, s.Healthcheck["test"])
		}
	}
	for _, name := range []string{"api", "worker"} {
		s := compose.Services[name]
		for _, v := range []string{"ADMIN_TOKEN", "INTERNAL_AUTH_TOKEN", "CALCOM_WEBHOOK_SECRET", "SECRET_ENCRYPTION_KEY"} {
			if val, _ := s.Environment[v].(string); !strings.HasPrefix(val, "${"+v+":?") {
				t.Errorf("%s: %s is %q: compose must refuse to start without it", name, v, val)
			}
		}
		if s.Build.Args["VERSION"] == "" {
			t.Errorf("%s: the image is built without a VERSION", name)
		}
	}
	if compose.Services["worker"].Environment["METRICS_ADDR"] == nil {
		t.Error("the worker serves no metrics (METRICS_ADDR)")
	}
	example, err := os.ReadFile("../.env.example")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range regexp.MustCompile(`\$\{([A-Z_]+)`).FindAllStringSubmatch(string(b), -1) {
		if !regexp.MustCompile(`(?m)^` + m[1] + `=`).Match(example) {
			t.Errorf(".env.example lacks %s, which docker-compose.yml reads", m[1])
		}
	}
}

// make compose-env writes .env with fresh tokens and a key of the form
// SECRET_ENCRYPTION_KEY takes, and leaves an existing one alone.
func TestComposeEnv_WritesFreshTokensOnce(t *testing.T) {
	env := filepath.Join(t.TempDir(), ".env")
	run := func() {
		t.Helper()
		if out, err := exec.Command("../scripts/compose-env.sh", env).CombinedOutput(); err != nil {
			t.Fatalf("compose-env: %v\n%s", err, out)
		}
	}
	run()
	first, err := os.ReadFile(env)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"ADMIN_TOKEN", "INTERNAL_AUTH_TOKEN", "CALCOM_WEBHOOK_SECRET"} {
		if !regexp.MustCompile(`(?m)^` + v + `=[A-Za-z0-9]{24,}$`).Match(first) {
			t.Errorf("%s is not a fresh token in .env", v)
		}
	}
	if !regexp.MustCompile(`(?m)^SECRET_ENCRYPTION_KEY=k1:[A-Za-z0-9+/]{43}=$`).Match(first) {
		t.Error("SECRET_ENCRYPTION_KEY is not an id and 32 bytes of base64")
	}
	if fi, _ := os.Stat(env); fi.Mode().Perm()&0o077 != 0 {
		t.Errorf(".env is readable by others: %v", fi.Mode())
	}
	run()
	if again, _ := os.ReadFile(env); !bytes.Equal(again, first) {
		t.Error("a second run changed an existing .env")
	}
}
