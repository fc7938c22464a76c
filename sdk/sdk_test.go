// Package sdk_test runs the generated SDKs (sdk/go, sdk/typescript) against a
// real api and worker: create a webhook, publish an event, read its delivery.
package sdk_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/empfio/webhooks/internal/testing/apptest"
	"github.com/empfio/webhooks/internal/testing/testenv"
	empfio "github.com/empfio/webhooks/sdk/go"
	"github.com/google/uuid"
)

func TestMain(m *testing.M) { apptest.Main(m) }

// The Go SDK: every call typed, every answer decoded.
func TestGoSDK_CreatePublishRead(t *testing.T) {
	a := apptest.Start(t, apptest.Options{Worker: true})
	orgID, key := a.Org(t, "Go SDK")
	recv := apptest.NewReceiver(t, apptest.Status(http.StatusNoContent))
	ctx := context.Background()
	c, err := empfio.NewClientWithResponses(a.URL, empfio.WithBearer(key))
	testenv.Must(t, err)
	internal, err := empfio.NewClientWithResponses(a.URL, empfio.WithBearer(apptest.InternalToken))
	testenv.Must(t, err)

	created, err := c.CreateWebhookWithResponse(ctx, empfio.CreateWebhookRequest{Url: recv.URL, Events: []string{"lead.created"}})
	testenv.Must(t, err)
	if created.JSON201 == nil || !strings.HasPrefix(created.JSON201.Secret, "whsec_") {
		t.Fatalf("create: %d %s", created.StatusCode(), created.Body)
	}
	bad, err := c.CreateWebhookWithResponse(ctx, empfio.CreateWebhookRequest{Url: "not a url", Events: []string{"lead.created"}})
	testenv.Must(t, err)
	if bad.ApplicationproblemJSON4XX == nil || bad.ApplicationproblemJSON4XX.Status != http.StatusUnprocessableEntity {
		t.Fatalf("a bad webhook: %d %s; want a decoded 422 problem", bad.StatusCode(), bad.Body)
	}

	published, err := internal.PublishEventWithResponse(ctx, nil, empfio.PublishEventRequest{Event: "lead.created",
		OrganizationId: uuid.MustParse(orgID), Data: map[string]any{"id": "lead-go", "channel": "web", "name": "Ada"}})
	testenv.Must(t, err)
	if published.JSON202 == nil || published.JSON202.Deliveries != 1 {
		t.Fatalf("publish: %d %s", published.StatusCode(), published.Body)
	}
	var got *empfio.Delivery
	testenv.Eventually(t, 15*time.Second, "the delivery succeeds", func() bool {
		list, err := c.ListDeliveriesWithResponse(ctx, created.JSON201.Id, &empfio.ListDeliveriesParams{EventId: &published.JSON202.EventId})
		if err != nil || list.JSON200 == nil || len(list.JSON200.Data) != 1 {
			return false
		}
		got = &list.JSON200.Data[0]
		return got.Status == empfio.DeliveryStatusSucceeded
	})
	one, err := c.GetDeliveryWithResponse(ctx, got.Id)
	testenv.Must(t, err)
	if one.JSON200 == nil || one.JSON200.Attempts != 1 || one.JSON200.AttemptLog == nil || len(*one.JSON200.AttemptLog) != 1 {
		t.Fatalf("the delivery: %d %s", one.StatusCode(), one.Body)
	}
	t.Logf("go sdk: webhook %s, event %s, delivery %s %s after %d attempt", created.JSON201.Id, published.JSON202.EventId, one.JSON200.Id,
		one.JSON200.Status, one.JSON200.Attempts)
}

// The TypeScript SDK compiles under --strict with its test (test/live.ts),
// which then runs in Node against the api.
func TestTypeScriptSDK_CompilesStrictAndRunsLive(t *testing.T) {
	modules, err := filepath.Abs("../.data/npm/node_modules")
	testenv.Must(t, err)
	if _, err := os.Stat(filepath.Join(modules, ".bin", "tsc")); err != nil {
		t.Skip("typescript is not installed (scripts/npm.sh, which make test runs, installs it)")
	}
	node, err := exec.LookPath("node")
	testenv.Must(t, err)

	dir := t.TempDir()
	testenv.Must(t, os.CopyFS(dir, os.DirFS("typescript")))
	testenv.Must(t, os.Symlink(modules, filepath.Join(dir, "node_modules")))
	if out, err := exec.Command(filepath.Join(modules, ".bin", "tsc"), "-p", dir).CombinedOutput(); err != nil {
		t.Fatalf("tsc --strict: %v\n%s", err, out)
	}

	a := apptest.Start(t, apptest.Options{Worker: true})
	_, key := a.Org(t, "TypeScript SDK")
	recv := apptest.NewReceiver(t, apptest.Status(http.StatusOK))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	run := exec.CommandContext(ctx, node, filepath.Join(dir, "dist", "test", "live.js"))
	run.Env = append(os.Environ(), "EMPFIO_API_URL="+a.URL, "EMPFIO_API_KEY="+key,
		"EMPFIO_INTERNAL_TOKEN="+apptest.InternalToken, "RECEIVER_URL="+recv.URL)
	out, err := run.CombinedOutput()
	if err != nil {
		t.Fatalf("node test/live.js: %v\n%s", err, out)
	}
	var saw struct {
		Delivery, Status string
		Attempts         int
	}
	if err := json.Unmarshal(out, &saw); err != nil || saw.Status != "succeeded" || saw.Attempts != 1 || len(recv.Of("lead.created")) != 1 {
		t.Fatalf("the TypeScript SDK saw %s (%v); the receiver got %d", out, err, len(recv.Of("lead.created")))
	}
	t.Logf("typescript sdk: %s", strings.TrimSpace(string(out)))
}
