package api_test

import (
	"testing"

	"github.com/empfio/webhooks/internal/testing/apptest"
)

func TestBadInput_NULCharactersAreRefusedNot500(t *testing.T) {
	a := apptest.Start(t, apptest.Options{})
	orgID, key := a.Org(t, "NUL")
	recv := apptest.NewReceiver(t, apptest.Status(200))
	cases := map[string]*apptest.Response{
		"organization name": a.Do(t, "POST", "/api/v1/organizations", apptest.AdminToken, `{"name":"a\u0000b"}`),
		"api key name":      a.Do(t, "POST", "/api/v1/organizations/"+orgID+"/api-keys", apptest.AdminToken, `{"name":"k\u0000"}`),
		"webhook description": a.Do(t, "POST", "/api/v1/webhooks", key,
			`{"url":"`+recv.URL+`","events":["*"],"description":"a\u0000b"}`),
		"agent event_id": a.Do(t, "POST", agentPath, apptest.InternalToken,
			`{"type":"new_lead","organization_id":"`+orgID+`","event_id":"e\u0000","data":{"id":"1","channel":"web"}}`),
	}
	for name, r := range cases {
		t.Run(name, func(t *testing.T) { problem(t, r, 422) })
	}
	// The dedup key was released: the same event again is refused again, not
	// answered as a duplicate.
	r := a.Do(t, "POST", agentPath, apptest.InternalToken,
		`{"type":"new_lead","organization_id":"`+orgID+`","event_id":"e\u0000","data":{"id":"1","channel":"web"}}`)
	problem(t, r, 422)
}
