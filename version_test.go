package webhooks

import "testing"

func TestVersion_TheBuildsVersionWins(t *testing.T) {
	if Version() == "" {
		t.Fatal("no version at all")
	}
	defer func(v string) { version = v }(version)
	version = "v9.8.7"
	if got := Version(); got != "v9.8.7" {
		t.Fatalf("Version() = %q with -X version=v9.8.7", got)
	}
}
