package config

import (
	"fmt"
	"maps"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// variables returns the environment variable of each Config field, by name.
func variables() map[string]reflect.StructField {
	out := map[string]reflect.StructField{}
	typ := reflect.TypeOf(Config{})
	for i := range typ.NumField() {
		if f := typ.Field(i); f.IsExported() {
			out[f.Tag.Get("envconfig")] = f
		}
	}
	return out
}

// readmeConfig returns the README's configuration table: each variable and
// the default its row shows ("" when none).
func readmeConfig(t *testing.T) map[string]string {
	t.Helper()
	b, err := os.ReadFile("../../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	start := strings.Index(s, "## Configuration")
	if start < 0 {
		t.Fatal("README has no Configuration section")
	}
	section := s[start:]
	if end := strings.Index(section[3:], "\n## "); end >= 0 {
		section = section[:end+3]
	}
	out := map[string]string{}
	row := regexp.MustCompile("^\\| ((?:`[A-Z0-9_]+`(?:, )?)+) \\|\\s*([^|]*?)\\s*\\|")
	for _, line := range strings.Split(section, "\n") {
		m := row.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		names := strings.Split(strings.ReplaceAll(m[1], "`", ""), ", ")
		defaults := strings.Split(strings.TrimSpace(m[2]), ", ")
		for i, name := range names {
			d := ""
			if len(defaults) == len(names) {
				if f := strings.Fields(defaults[i]); len(f) > 0 {
					d = strings.Trim(f[0], "`")
				}
			}
			out[name] = d
		}
	}
	return out
}

// The README's configuration table names every variable of Config, no other,
// and shows each one's real default.
func TestREADME_ConfigurationTableIsTheConfig(t *testing.T) {
	vars, table := variables(), readmeConfig(t)
	def := reflect.ValueOf(Defaults())
	for name, f := range vars {
		shown, ok := table[name]
		if !ok {
			t.Errorf("%s is read by the service but missing from the README's configuration table", name)
			continue
		}
		if shown == "" {
			continue // a row without a default (a secret, a URL shown with its own words)
		}
		if want := def.FieldByIndex(f.Index).Interface(); !sameValue(want, shown) {
			t.Errorf("%s: the README shows the default %q, the code has %v", name, shown, want)
		}
	}
	for name := range table {
		if _, ok := vars[name]; !ok {
			t.Errorf("the README documents %s, which the service does not read", name)
		}
	}
}

// sameValue reports whether a default shown in the README is v.
func sameValue(v any, shown string) bool {
	switch v := v.(type) {
	case time.Duration:
		d, err := time.ParseDuration(shown)
		return err == nil && d == v
	case int:
		n, err := strconv.Atoi(shown)
		return err == nil && n == v
	case bool:
		b, err := strconv.ParseBool(shown)
		return err == nil && b == v
	case string:
		return shown == v
	case []string:
		return shown == strings.Join(v, ",")
	}
	return shown == fmt.Sprint(v)
}

// Every variable docker-compose.yml sets for the api and the worker is one the
// service reads.
func TestCompose_SetsOnlyVariablesTheServiceReads(t *testing.T) {
	b, err := os.ReadFile("../../../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var compose struct {
		Services map[string]struct {
			Environment map[string]string `yaml:"environment"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(b, &compose); err != nil {
		t.Fatal(err)
	}
	vars := variables()
	for _, service := range []string{"api", "worker"} {
		env := compose.Services[service].Environment
		if len(env) == 0 {
			t.Fatalf("docker-compose.yml sets no environment for %s", service)
		}
		for _, name := range slices.Sorted(maps.Keys(env)) {
			if _, ok := vars[name]; !ok {
				t.Errorf("docker-compose.yml sets %s for %s, which the service does not read", name, service)
			}
		}
	}
}
