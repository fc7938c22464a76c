package api_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	webhooks "github.com/empfio/webhooks"
	"github.com/empfio/webhooks/internal/testing/apptest"
	"github.com/empfio/webhooks/internal/testing/testenv"
)

// connectCalcom gives the organization of key its own Cal.com subscriber URL and
// returns the URL's path and the secret.
func connectCalcom(t *testing.T, a *apptest.App, key string) (path, secret string) {
	t.Helper()
	r := a.Do(t, "POST", "/api/v1/integrations/calcom", key, nil)
	if r.Status != http.StatusCreated {
		t.Fatalf("connect Cal.com: %d %s", r.Status, r.Body)
	}
	var in webhooks.CalcomIntegration
	r.JSON(t, &in)
	_, path, ok := strings.Cut(in.SubscriberURL, "://")
	if !ok || in.Secret == "" {
		t.Fatalf("integration %+v", in)
	}
	return path[strings.Index(path, "/"):], in.Secret
}

func postSigned(t *testing.T, a *apptest.App, path string, body []byte, secret string) *apptest.Response {
	return a.DoWith(t, "POST", path, body, map[string]string{"Content-Type": "application/json",
		"X-Cal-Signature-256": webhooks.Sign(secret, body)})
}

// An organization's own subscriber URL accepts only bodies signed with its own
// secret, files them under that organization whatever the body says, and
// recognises a replay however late.
func TestCalcom_OrganizationURLIsBoundToItsOrganization(t *testing.T) {
	logs := &apptest.LogBuffer{}
	a := apptest.Start(t, apptest.Options{Worker: true, LogOutput: logs, LogInfo: true})
	orgA, keyA := a.Org(t, "A")
	orgB, keyB := a.Org(t, "B")
	recvA := apptest.NewReceiver(t, apptest.Status(200))
	recvB := apptest.NewReceiver(t, apptest.Status(200))
	a.Webhook(t, keyA, recvA.URL, "booking.*")
	a.Webhook(t, keyB, recvB.URL, "booking.*")
	pathA, secretA := connectCalcom(t, a, keyA)
	_, secretB := connectCalcom(t, a, keyB)

	// The fixture's metadata names another organization: the URL decides.
	body := fixture(t, "booking_created.json")
	r := postSigned(t, a, pathA, body, secretA)
	if r.Status != http.StatusAccepted {
		t.Fatalf("signed with A's secret: %d %s", r.Status, r.Body)
	}
	eventID := r.Map(t)["event_id"]
	testenv.Eventually(t, 10*time.Second, "A receives the booking", func() bool { return len(recvA.Of(webhooks.BookingCreated)) == 1 })
	var owner string
	testenv.Must(t, a.DB.Pool().QueryRow(context.Background(), `SELECT organization_id::text FROM events WHERE id = $1`, eventID).Scan(&owner))
	if owner != orgA {
		t.Fatalf("the event belongs to %s, want %s", owner, orgA)
	}

	// Bodies not signed with A's secret are refused at A's URL.
	for name, secret := range map[string]string{"B's secret": secretB, "the shared secret": apptest.CalcomSecret, "no secret": ""} {
		if r := postSigned(t, a, pathA, body, secret); r.Status != http.StatusUnauthorized {
			t.Errorf("signed with %s: %d", name, r.Status)
		}
	}
	problem(t, postSigned(t, a, "/api/v1/webhooks/calcom/cal_unknownunknownunknown", body, secretA), http.StatusUnauthorized)

	// A replay after the dedup window is still a duplicate of the same event.
	keys, err := a.Redis.Keys(context.Background(), "empfio:dedup:*").Result() // the window has passed
	testenv.Must(t, err)
	testenv.Must(t, a.Redis.Del(context.Background(), keys...).Err())
	r = postSigned(t, a, pathA, body, secretA)
	if r.Status != http.StatusOK || r.Map(t)["status"] != "duplicate" || r.Map(t)["event_id"] != eventID {
		t.Fatalf("replay after the window: %d %s", r.Status, r.Body)
	}

	// Connecting again replaces the URL: the old one stops working.
	newPath, newSecret := connectCalcom(t, a, keyA)
	problem(t, postSigned(t, a, pathA, fixture(t, "booking_cancelled.json"), secretA), http.StatusUnauthorized)
	if r := postSigned(t, a, newPath, fixture(t, "booking_cancelled.json"), newSecret); r.Status != http.StatusAccepted {
		t.Fatalf("the new URL: %d %s", r.Status, r.Body)
	}
	if len(recvB.Of(webhooks.BookingCreated)) != 0 {
		t.Fatal("B got A's booking")
	}
	if !strings.Contains(logs.String(), "/api/v1/webhooks/calcom/:token") || strings.Contains(logs.String(), strings.TrimPrefix(pathA, "/api/v1/webhooks/calcom/")) {
		t.Fatalf("the requests are not logged by their route, or a token was logged:\n%s", logs.String())
	}
	if r := a.Do(t, "GET", "/api/v1/integrations/calcom", keyB, nil); r.Status != 200 || r.Map(t)["secret"] != nil || r.Map(t)["connected"] != true {
		t.Fatalf("reading the integration: %d %s", r.Status, r.Body)
	}
	_ = orgB
}
