package webhooks_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	webhooks "github.com/empfio/webhooks"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

func TestSign_IsHexHMACOfBodyKeyedWithSecretString(t *testing.T) {
	secret := "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	body := []byte(`{"event":"lead.created"}`)
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	if got, want := webhooks.Sign(secret, body), hex.EncodeToString(m.Sum(nil)); got != want {
		t.Fatalf("Sign = %s, want %s", got, want)
	}
}

func TestVerify_AcceptsOnlyTheRightSignature(t *testing.T) {
	secret, body := "empfio-calcom-test-secret", []byte("payload")
	sig := webhooks.Sign(secret, body)
	cases := map[string]struct {
		secret, sig string
		body        []byte
		want        bool
	}{
		"right":              {secret, sig, body, true},
		"upper-case hex":     {secret, strings.ToUpper(sig), body, true},
		"wrong secret":       {"other", sig, body, false},
		"flipped body byte":  {secret, sig, []byte("paylaad"), false},
		"missing":            {secret, "", body, false},
		"no-secret-provided": {secret, "no-secret-provided", body, false},
		"sha256= prefix":     {secret, "sha256=" + sig, body, false},
	}
	for name, c := range cases {
		if got := webhooks.Verify(c.secret, c.body, c.sig); got != c.want {
			t.Errorf("%s: Verify = %v, want %v", name, got, c.want)
		}
	}
}

func TestSignStandard_VerifiesWithTheStandardWebhooksLibrary(t *testing.T) {
	current, previous := webhooks.NewSecret(), webhooks.NewSecret()
	body := []byte(`{"id":"1"}`)
	ts := time.Now().Unix()
	sig := webhooks.SignStandard([]string{current, previous}, "msg_1", ts, body)
	if n := len(strings.Fields(sig)); n != 2 {
		t.Fatalf("want two space-separated signatures during a rotation, got %q", sig)
	}
	h := http.Header{}
	h.Set("webhook-id", "msg_1")
	h.Set("webhook-timestamp", strconv.FormatInt(ts, 10))
	h.Set("webhook-signature", sig)
	for _, secret := range []string{current, previous} {
		wh, err := standardwebhooks.NewWebhook(secret)
		if err != nil {
			t.Fatal(err)
		}
		if err := wh.Verify(body, h); err != nil {
			t.Errorf("secret %s…: %v", secret[:10], err)
		}
	}
	wh, _ := standardwebhooks.NewWebhook(webhooks.NewSecret())
	if wh.Verify(body, h) == nil {
		t.Error("an unrelated secret must not verify")
	}
}

func TestNewSecret_IsWhsecAndThirtyTwoRandomBytes(t *testing.T) {
	a, b := webhooks.NewSecret(), webhooks.NewSecret()
	if a == b {
		t.Fatal("two secrets are equal")
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(a, "whsec_"))
	if !strings.HasPrefix(a, "whsec_") || err != nil || len(raw) != 32 {
		t.Fatalf("secret %q: want whsec_ + base64 of 32 bytes (err %v, %d bytes)", a, err, len(raw))
	}
}
