package jobs_test

import (
	"testing"

	"github.com/empfio/webhooks/internal/testing/apptest"
)

// TestMain checks, after the package's tests, that no credential was logged.
func TestMain(m *testing.M) { apptest.Main(m) }
