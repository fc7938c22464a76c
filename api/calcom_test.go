package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	webhooks "github.com/empfio/webhooks"
	"github.com/empfio/webhooks/api"
	"github.com/empfio/webhooks/internal/testing/apptest"
	"github.com/empfio/webhooks/internal/testing/testenv"
	"github.com/google/uuid"
)

// The fixtures' organization and their signatures with apptest.CalcomSecret,
// as Cal.com sends them (the files under testdata/calcom are real-format bodies).
const fixtureOrg = "3f6c2a9e-8b1d-4c57-9e2a-71d0b5c4e8f2"

var fixtureSignatures = map[string]string{
	"booking_created.json":     "70a3eb77ad8118e8c7f7390212bcc93dadafb1c720fd46da9137613dda73fdaa",
	"booking_rescheduled.json": "bb3f60c6730c53e22de49c1d2c5638b0c44d18c98deea4ab9498b8b2032c2684",
	"booking_cancelled.json":   "11018e9c31aa0b4d6460d2a299bff8b49f955968a7535be0b9390ac98d189108",
	"ping.json":                "a2756347580e74c4f219a0e7bd0055d9f2aac7106ec9ac147f6d2f920d58a851",
	"meeting_ended.json":       "3548579f1670be6b2cb61b92f2521da12866ab88deecc92313ab4a37293b8b3e",
}

func fixture(t *testing.T, name string) []byte {
	b, err := os.ReadFile("testdata/calcom/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func sendCalcom(t *testing.T, a *apptest.App, query string, body []byte, sig string) *apptest.Response {
	return a.DoWith(t, "POST", "/api/v1/webhooks/calcom"+query, body, map[string]string{
		"Content-Type": "application/json", "X-Cal-Signature-256": sig, "X-Cal-Webhook-Version": "2021-10-20"})
}

// calcomApp is an app with the fixtures' organization and a receiver for bookings.
func calcomApp(t *testing.T, o apptest.Options) (*apptest.App, *apptest.Receiver) {
	a := apptest.Start(t, o)
	if err := a.DB.EnsureOrganization(context.Background(), fixtureOrg, "Albers Steuerberatung"); err != nil {
		t.Fatal(err)
	}
	key, err := a.DB.CreateAPIKey(context.Background(), fixtureOrg, "test")
	if err != nil {
		t.Fatal(err)
	}
	recv := apptest.NewReceiver(t, apptest.Status(200))
	a.Webhook(t, key.Key, recv.URL, "booking.*")
	return a, recv
}

func delivered(t *testing.T, recv *apptest.Receiver, eventType string) (ts string, data map[string]any) {
	t.Helper()
	testenv.Eventually(t, 10*time.Second, eventType+" is delivered", func() bool {
		got := recv.Of(eventType)
		if len(got) == 0 {
			return false
		}
		var env struct {
			Timestamp string
			Data      map[string]any
		}
		if err := json.Unmarshal(got[0].Body, &env); err != nil {
			t.Fatalf("%s delivered as non-JSON: %v", eventType, err)
		}
		ts, data = env.Timestamp, env.Data
		return true
	})
	return ts, data
}

func expect(t *testing.T, data map[string]any, want map[string]any) {
	t.Helper()
	for k, v := range want {
		got, ok := data[k]
		if !ok {
			t.Errorf("data.%s is missing", k)
			continue
		}
		if gb, wb := mustJSON(got), mustJSON(v); string(gb) != string(wb) {
			t.Errorf("data.%s = %s, want %s", k, gb, wb)
		}
	}
}

func TestCalcom_BookingCreatedFixtureIsDeliveredAsBookingCreated(t *testing.T) {
	a, recv := calcomApp(t, apptest.Options{Worker: true})
	r := sendCalcom(t, a, "", fixture(t, "booking_created.json"), fixtureSignatures["booking_created.json"])
	if r.Status != http.StatusAccepted || r.Map(t)["status"] != "accepted" {
		t.Fatalf("%d %s", r.Status, r.Body)
	}
	ts, data := delivered(t, recv, "booking.created")
	if ts != "2026-04-14T09:12:45Z" {
		t.Errorf("envelope timestamp %s, want Cal.com's createdAt", ts)
	}
	expect(t, data, map[string]any{
		"id":                 uuid.NewSHA1(uuid.NewSHA1(uuid.NameSpaceURL, []byte("https://empfio.com/ns/calcom-booking")), []byte("u7Xq2KcVnR9wHt4LmYp3sD")).String(),
		"lead_id":            nil,
		"start_time":         "2026-04-21T08:00:00Z",
		"end_time":           "2026-04-21T08:30:00Z",
		"service":            "Erstberatung",
		"calcom_booking_id":  3859127,
		"calcom_booking_uid": "u7Xq2KcVnR9wHt4LmYp3sD",
		"event_type_id":      1192734,
		"status":             "confirmed",
		"meeting_url":        "https://app.cal.com/video/u7Xq2KcVnR9wHt4LmYp3sD",
		"location":           "integrations:daily",
		"attendee":           map[string]any{"name": "Jonas Weber", "email": "jonas.weber@example.com", "phone": "+4915123456789", "time_zone": "Europe/Berlin"},
		"organizer":          map[string]any{"name": "Miriam Albers", "email": "kanzlei@albers-steuerberatung.example"},
		"notes":              "Frage zur Einkommensteuererklärung 2025 – Nebenjob als Fotograf, ca. 4.000 € Umsatz.",
	})
}

func TestCalcom_RescheduledFixtureUsesTheQueryOrganization(t *testing.T) {
	a, recv := calcomApp(t, apptest.Options{Worker: true})
	body := fixture(t, "booking_rescheduled.json")
	if r := sendCalcom(t, a, "", body, fixtureSignatures["booking_rescheduled.json"]); r.Status != 422 ||
		!strings.Contains(string(r.Body), "?organization_id=") {
		t.Fatalf("without an organization: %d %s", r.Status, r.Body)
	}
	r := sendCalcom(t, a, "?organization_id="+fixtureOrg, body, fixtureSignatures["booking_rescheduled.json"])
	if r.Status != http.StatusAccepted {
		t.Fatalf("%d %s", r.Status, r.Body)
	}
	_, data := delivered(t, recv, "booking.rescheduled")
	expect(t, data, map[string]any{
		"start_time":                  "2026-04-23T12:00:00Z",
		"calcom_booking_id":           3862410,
		"calcom_booking_uid":          "Hk3vPz8QwT2nLr6YbF9xMa",
		"meeting_url":                 "https://app.cal.com/video/Hk3vPz8QwT2nLr6YbF9xMa",
		"previous_start_time":         "2026-04-21T08:00:00Z",
		"previous_end_time":           "2026-04-21T08:30:00Z",
		"previous_calcom_booking_id":  3859127,
		"previous_calcom_booking_uid": "u7Xq2KcVnR9wHt4LmYp3sD",
		"rescheduled_by":              "jonas.weber@example.com",
		"reschedule_reason":           "Dienstag passt leider nicht, Donnerstagnachmittag wäre besser.",
	})
}

func TestCalcom_CancelledFixtureNormalisesTimes(t *testing.T) {
	a, recv := calcomApp(t, apptest.Options{Worker: true})
	r := sendCalcom(t, a, "?organization_id="+fixtureOrg, fixture(t, "booking_cancelled.json"), fixtureSignatures["booking_cancelled.json"])
	if r.Status != http.StatusAccepted {
		t.Fatalf("%d %s", r.Status, r.Body)
	}
	_, data := delivered(t, recv, "booking.cancelled")
	expect(t, data, map[string]any{
		"start_time":           "2026-04-23T12:00:00Z",
		"end_time":             "2026-04-23T12:30:00Z",
		"cancelled_at":         "2026-04-22T06:48:31Z",
		"calcom_booking_id":    3862410,
		"calcom_booking_uid":   "Hk3vPz8QwT2nLr6YbF9xMa",
		"status":               "cancelled",
		"cancellation_reason":  "Hat sich erledigt – der Steuerbescheid ist inzwischen gekommen.",
		"cancelled_by":         "jonas.weber@example.com",
		"reschedule_requested": false,
		"lead_id":              nil,
	})
	// The same booking id as the rescheduled booking it cancels.
	if data["id"] != uuid.NewSHA1(uuid.NewSHA1(uuid.NameSpaceURL, []byte("https://empfio.com/ns/calcom-booking")), []byte("Hk3vPz8QwT2nLr6YbF9xMa")).String() {
		t.Errorf("id %v is not the stable UUIDv5 of the uid", data["id"])
	}
}

func TestCalcom_PingAndUnsupportedTriggersStoreNothing(t *testing.T) {
	a, _ := calcomApp(t, apptest.Options{})
	if r := sendCalcom(t, a, "", fixture(t, "ping.json"), fixtureSignatures["ping.json"]); r.Status != 200 {
		t.Fatalf("PING: %d %s", r.Status, r.Body)
	}
	r := sendCalcom(t, a, "?organization_id="+fixtureOrg, fixture(t, "meeting_ended.json"), fixtureSignatures["meeting_ended.json"])
	if r.Status != 200 || r.Map(t)["status"] != "ignored" {
		t.Fatalf("MEETING_ENDED: %d %s", r.Status, r.Body)
	}
	if n := countEvents(t, a.DB); n != 0 {
		t.Fatalf("%d events stored", n)
	}
}

func TestCalcom_BadSignaturesAreRefused(t *testing.T) {
	a, _ := calcomApp(t, apptest.Options{})
	body := fixture(t, "booking_created.json")
	sig := fixtureSignatures["booking_created.json"]
	flipped := append([]byte(nil), body...)
	flipped[100] ^= 1
	cases := map[string]struct {
		body []byte
		sig  string
	}{
		"wrong secret":       {body, webhooks.Sign("not-the-secret", body)},
		"flipped body byte":  {flipped, sig},
		"missing header":     {body, ""},
		"no-secret-provided": {body, "no-secret-provided"},
		"sha256= prefix":     {body, "sha256=" + sig},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) { problem(t, sendCalcom(t, a, "", c.body, c.sig), 401) })
	}
	if n := countEvents(t, a.DB); n != 0 {
		t.Fatalf("%d events stored from badly signed bodies", n)
	}
	// Upper-case hex is the same signature once decoded.
	if r := sendCalcom(t, a, "", body, strings.ToUpper(sig)); r.Status != http.StatusAccepted {
		t.Fatalf("upper-case hex: %d %s", r.Status, r.Body)
	}
}

func TestCalcom_SameTriggerAndUIDIsADuplicate(t *testing.T) {
	a, _ := calcomApp(t, apptest.Options{})
	body, sig := fixture(t, "booking_created.json"), fixtureSignatures["booking_created.json"]
	if r := sendCalcom(t, a, "", body, sig); r.Status != 202 {
		t.Fatalf("%d", r.Status)
	}
	if r := sendCalcom(t, a, "", body, sig); r.Status != 200 || r.Map(t)["status"] != "duplicate" {
		t.Fatalf("repeat: %d %s", r.Status, r.Body)
	}
	if n := countEvents(t, a.DB); n != 1 {
		t.Fatalf("%d events, want 1", n)
	}
}

func TestCalcom_MalformedBodiesGetProblems(t *testing.T) {
	a, _ := calcomApp(t, apptest.Options{MaxBodyBytes: 8192})
	signed := func(body string) (string, string) { return body, webhooks.Sign(apptest.CalcomSecret, []byte(body)) }
	send := func(body, sig string) *apptest.Response {
		return sendCalcom(t, a, "?organization_id="+fixtureOrg, []byte(body), sig)
	}
	problem(t, send(signed(`{"triggerEvent":`)), 400)
	m := problem(t, send(signed(`{"createdAt":"2026-04-10T14:22:05.913Z","payload":{}}`)), 422)
	if f := fieldErrors(m); len(f) != 1 || f[0] != "triggerEvent" {
		t.Errorf("no triggerEvent: %v", f)
	}
	problem(t, send(signed(`{"triggerEvent":"BOOKING_CREATED","payload":"nope"}`)), 422)
	big := `{"triggerEvent":"BOOKING_CREATED","payload":{"uid":"x","pad":"` + strings.Repeat("x", 9000) + `"}}`
	problem(t, send(signed(big)), 413)
	body, sig := signed(`{"triggerEvent":"BOOKING_CREATED","payload":{"uid":"x"}}`)
	if r := sendCalcom(t, a, "?organization_id=12345", []byte(body), sig); r.Status != 422 {
		t.Errorf("non-UUID organization_id: %d", r.Status)
	}
	r := a.DoWith(t, "POST", "/api/v1/webhooks/calcom?organization_id="+fixtureOrg, []byte("name=x"), map[string]string{
		"Content-Type": "application/x-www-form-urlencoded", "X-Cal-Signature-256": webhooks.Sign(apptest.CalcomSecret, []byte("name=x"))})
	problem(t, r, 415)
}

func TestCalcom_UnsetSecretAcceptsUnsignedBodies(t *testing.T) {
	db, _ := testenv.DB(t)
	rdb, _ := testenv.Redis(t)
	url := serve(t, api.Config{DB: db, Redis: rdb})
	if err := db.EnsureOrganization(context.Background(), fixtureOrg, "Albers"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(url+"/api/v1/webhooks/calcom", "application/json", strings.NewReader(string(fixture(t, "booking_created.json"))))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("unsigned body without CALCOM_WEBHOOK_SECRET: %d, want 202", resp.StatusCode)
	}
}
