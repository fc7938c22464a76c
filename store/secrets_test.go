package store_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"strings"
	"testing"

	webhooks "github.com/empfio/webhooks"
	"github.com/empfio/webhooks/internal/testing/testenv"
	"github.com/empfio/webhooks/store"
)

func newKey(t *testing.T, id string) string {
	b := make([]byte, 32)
	rand.Read(b)
	return id + ":" + base64.StdEncoding.EncodeToString(b)
}

func keyring(t *testing.T, spec string) *store.Keyring {
	t.Helper()
	k, err := store.ParseKeyring(spec)
	testenv.Must(t, err)
	return k
}

// storedSecrets returns every secret (custom headers included) as it lies in
// the database.
func storedSecrets(t *testing.T, db *store.DB) []string {
	t.Helper()
	rows, err := db.Pool().Query(context.Background(), `SELECT secret FROM endpoints UNION ALL
		SELECT previous_secret FROM endpoints WHERE previous_secret IS NOT NULL UNION ALL
		SELECT headers FROM endpoints WHERE headers IS NOT NULL UNION ALL SELECT secret FROM calcom_integrations`)
	testenv.Must(t, err)
	var out []string
	for rows.Next() {
		var s string
		testenv.Must(t, rows.Scan(&s))
		out = append(out, s)
	}
	testenv.Must(t, rows.Err())
	return out
}

// With a key, secrets lie encrypted in the database and read back in clear;
// plaintext from before the key is encrypted on start; a new key re-encrypts
// everything; a key that is missing makes reads fail instead of sending with a
// wrong secret.
func TestSecrets_EncryptedAtRestAndRotated(t *testing.T) {
	db, _ := testenv.DB(t)
	ctx := context.Background()
	org, _, err := db.CreateOrganization(ctx, "Vault")
	testenv.Must(t, err)
	plain := &webhooks.Endpoint{OrganizationID: org.ID, URL: "https://example.com/a", Events: []string{"*"},
		Headers: map[string]string{"Authorization": "Bearer plain-token"}}
	testenv.Must(t, db.CreateEndpoint(ctx, plain)) // before any key: in clear
	if got := storedSecrets(t, db); len(got) != 2 || got[0] != plain.Secret || !strings.Contains(got[1], "plain-token") {
		t.Fatalf("without a key: %v", got)
	}

	k1 := newKey(t, "k1")
	db.UseKeyring(keyring(t, k1))
	n, err := db.EncryptSecrets(ctx)
	if err != nil || n != 2 {
		t.Fatalf("encrypting the plaintext: %d, %v", n, err)
	}
	e := &webhooks.Endpoint{OrganizationID: org.ID, URL: "https://example.com/b", Events: []string{"*"},
		Headers: map[string]string{"X-Api-Key": "k-123"}}
	testenv.Must(t, db.CreateEndpoint(ctx, e))
	rotated, err := db.RotateSecret(ctx, org.ID, e.ID, 3600e9)
	testenv.Must(t, err)
	cal, err := db.PutCalcomIntegration(ctx, org.ID)
	testenv.Must(t, err)
	for _, s := range storedSecrets(t, db) {
		if !strings.HasPrefix(s, "enc:v1:k1:") {
			t.Fatalf("a secret lies in the database as %q", s)
		}
	}
	back, err := db.Endpoint(ctx, org.ID, e.ID)
	testenv.Must(t, err)
	if back.Secret != rotated.Secret || back.PreviousSecret == nil || *back.PreviousSecret != e.Secret {
		t.Fatalf("read back: %q / %v, want %q / %q", back.Secret, back.PreviousSecret, rotated.Secret, e.Secret)
	}
	if first, _ := db.Endpoint(ctx, org.ID, plain.ID); first.Secret != plain.Secret || first.Headers["Authorization"] != "Bearer plain-token" {
		t.Fatalf("the formerly plain secret reads %q, its headers %v", first.Secret, first.Headers)
	}
	if back.Headers["X-Api-Key"] != "k-123" {
		t.Fatalf("headers read back: %v", back.Headers)
	}

	// A new current key: everything moves to it; the old key may then go.
	db.UseKeyring(keyring(t, newKey(t, "k2")+","+k1))
	n, err = db.EncryptSecrets(ctx)
	if err != nil || n != 6 {
		t.Fatalf("rotating to k2: %d, %v (want 6 values)", n, err)
	}
	for _, s := range storedSecrets(t, db) {
		if !strings.HasPrefix(s, "enc:v1:k2:") {
			t.Fatalf("after rotation a secret is %.12s…", s)
		}
	}
	_, secret, err := db.CalcomByToken(ctx, webhooks.HashAPIKey(cal.Token))
	if err != nil || secret != cal.Secret {
		t.Fatalf("Cal.com secret after rotation: %q, %v", secret, err)
	}

	// Without the key that sealed them, secrets do not open.
	db.UseKeyring(keyring(t, newKey(t, "k3")))
	if _, err := db.Endpoint(ctx, org.ID, e.ID); err == nil {
		t.Fatal("an endpoint read with the wrong key")
	}
	for _, bad := range []string{"k1", "k1:short", "k1:" + base64.StdEncoding.EncodeToString(make([]byte, 16)), newKey(t, "a") + "," + newKey(t, "a")} {
		if _, err := store.ParseKeyring(bad); err == nil {
			t.Errorf("ParseKeyring(%.20q) accepted", bad)
		}
	}
}
