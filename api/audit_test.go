package api_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	webhooks "github.com/empfio/webhooks"
	"github.com/empfio/webhooks/internal/testing/apptest"
)

// What changes an organization's webhooks, keys and links — and every look at
// a secret — is in its audit log: who (the key's prefix, a dashboard link of
// it, the admin token), what, to what, when and from where; never a secret.
// Another organization sees none of it; a dashboard link cannot read it.
func TestAuditLog_WhoDidWhatFromWhere(t *testing.T) {
	a := apptest.Start(t, apptest.Options{})
	recv := apptest.NewReceiver(t, apptest.Status(http.StatusOK))
	var org struct {
		Organization webhooks.Organization `json:"organization"`
		APIKey       webhooks.APIKey       `json:"api_key"`
	}
	a.Do(t, "POST", "/api/v1/organizations", apptest.AdminToken, map[string]string{"name": "Audited"}).JSON(t, &org)
	key := org.APIKey.Key
	hookID, _ := a.Webhook(t, key, recv.URL, "lead.*")
	do := func(method, path, token string, body any, status int) map[string]any {
		t.Helper()
		r := a.DoWith(t, method, path, body, map[string]string{"Authorization": "Bearer " + token, "Content-Type": "application/json",
			"User-Agent": "audit-test/1.0"})
		if r.Status != status {
			t.Fatalf("%s %s: %d %s", method, path, r.Status, r.Body)
		}
		var m map[string]any
		json.Unmarshal(r.Body, &m)
		return m
	}
	secret := do("GET", "/api/v1/webhooks/"+hookID+"/secret", key, nil, http.StatusOK)["secret"].(string)
	do("POST", "/api/v1/webhooks/"+hookID+"/secret/rotate", key, map[string]string{"grace": "24h"}, http.StatusOK)
	do("PATCH", "/api/v1/webhooks/"+hookID, key, map[string]any{"description": "CRM", "headers": map[string]string{"X-Tenant": "acme-secret-ish"}}, http.StatusOK)
	do("PATCH", "/api/v1/webhooks/"+hookID, key, map[string]any{"enabled": false}, http.StatusOK)
	do("PATCH", "/api/v1/webhooks/"+hookID, key, map[string]any{"enabled": true, "replay": "none"}, http.StatusOK)
	link := do("POST", "/api/v1/portal-sessions", key, map[string]any{"read_only": false}, http.StatusCreated)
	portalToken := link["url"].(string)[strings.Index(link["url"].(string), "#portal=")+len("#portal="):]
	do("PATCH", "/api/v1/webhooks/"+hookID, portalToken, map[string]any{"description": "changed through the link"}, http.StatusOK)
	do("POST", "/api/v1/integrations/calcom", key, nil, http.StatusCreated)
	newKey := do("POST", "/api/v1/organizations/"+org.Organization.ID+"/api-keys", apptest.AdminToken, map[string]string{"name": "ci"}, http.StatusCreated)
	do("DELETE", "/api/v1/organizations/"+org.Organization.ID+"/api-keys/"+newKey["id"].(string), apptest.AdminToken, nil, http.StatusNoContent)
	do("DELETE", "/api/v1/webhooks/"+hookID, key, nil, http.StatusNoContent)

	var log struct{ Data []webhooks.AuditEvent }
	a.Do(t, "GET", "/api/v1/audit-log?limit=100", key, nil).JSON(t, &log)
	var got []string
	for i := len(log.Data) - 1; i >= 0; i-- { // oldest first
		got = append(got, log.Data[i].Action)
	}
	want := []string{"organization.created", "api_key.created", "webhook.created", "webhook.secret_revealed", "webhook.secret_rotated",
		"webhook.updated", "webhook.disabled", "webhook.enabled", "portal_session.created", "webhook.updated", "calcom.connected",
		"api_key.created", "api_key.revoked", "webhook.deleted"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("audit log:\n got %v\nwant %v", got, want)
	}
	byAction := map[string][]webhooks.AuditEvent{}
	for _, ev := range log.Data {
		byAction[ev.Action] = append(byAction[ev.Action], ev)
	}
	rotated := byAction["webhook.secret_rotated"][0]
	entry, _ := json.Marshal(rotated)
	t.Logf("a rotation's entry: %s", entry)
	if rotated.Actor != "API key "+org.APIKey.Prefix+"…" || rotated.IP != "127.0.0.1" || rotated.UserAgent != "audit-test/1.0" ||
		rotated.RequestID == "" || rotated.TargetID == nil || *rotated.TargetID != hookID || !strings.Contains(string(rotated.Detail), `"1 day"`) {
		t.Errorf("the rotation's entry: %+v detail %s", rotated, rotated.Detail)
	}
	if byLink := byAction["webhook.updated"][0]; !strings.HasPrefix(byLink.Actor, "dashboard link ") || !strings.HasSuffix(byLink.Actor, "of API key "+org.APIKey.Prefix+"…") {
		t.Errorf("a change through a dashboard link is by %q", byLink.Actor)
	}
	if revoked := byAction["api_key.revoked"][0]; revoked.Actor != "admin token" {
		t.Errorf("a revocation by the admin token is by %q", revoked.Actor)
	}
	if updated := byAction["webhook.updated"][1]; !strings.Contains(string(updated.Detail), `"headers"`) {
		t.Errorf("the update's detail names no field: %s", updated.Detail)
	}
	raw := string(a.Do(t, "GET", "/api/v1/audit-log?limit=100", key, nil).Body)
	for _, never := range []string{secret, "acme-secret-ish", key, portalToken} {
		if strings.Contains(raw, never) {
			t.Errorf("the audit log shows a secret (%.10s…)", never)
		}
	}

	// One action; pages; another organization; a dashboard link.
	var only struct {
		Data       []webhooks.AuditEvent
		NextCursor *string `json:"next_cursor"`
	}
	a.Do(t, "GET", "/api/v1/audit-log?action=webhook.updated&limit=1", key, nil).JSON(t, &only)
	if len(only.Data) != 1 || only.Data[0].Action != "webhook.updated" || only.NextCursor == nil {
		t.Fatalf("one action, one a page: %+v", only)
	}
	problem(t, a.Do(t, "GET", "/api/v1/audit-log?action=webhook.exploded", key, nil), http.StatusUnprocessableEntity)
	_, otherKey := a.Org(t, "Someone else")
	var other struct{ Data []webhooks.AuditEvent }
	a.Do(t, "GET", "/api/v1/audit-log", otherKey, nil).JSON(t, &other)
	for _, ev := range other.Data {
		if ev.OrganizationID == org.Organization.ID {
			t.Fatal("another organization sees this one's audit log")
		}
	}
	problem(t, a.Do(t, "GET", "/api/v1/audit-log", portalToken, nil), http.StatusForbidden)
}
