package webhooks

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strconv"
	"strings"

	"github.com/empfio/webhooks/verify"
)

// SecretPrefix starts every endpoint secret, as in Standard Webhooks.
const SecretPrefix = "whsec_"

// NewSecret returns a fresh endpoint secret: whsec_ + base64 of 32 random bytes.
func NewSecret() string {
	b := make([]byte, 32)
	rand.Read(b)
	return SecretPrefix + base64.StdEncoding.EncodeToString(b)
}

// CheckSecret reports whether s is a secret this service can sign with, as
// NewSecret makes them: whsec_ and the standard base64 of 24 to 64 bytes. It
// is for secrets a caller brings (empfio listen keeps its own).
func CheckSecret(s string) error {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(s, SecretPrefix))
	if !strings.HasPrefix(s, SecretPrefix) || err != nil || len(key) < 24 || len(key) > 64 {
		return Invalid(FieldError{Field: "secret", Message: "must be whsec_ and the base64 of 24 to 64 random bytes"})
	}
	return nil
}

// Sign returns X-Empfio-Signature: the lowercase hex HMAC-SHA256 of body keyed
// with the secret string exactly as shown to the user. Receivers recompute it
// from the raw body and compare.
func Sign(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// SignBody returns the X-Empfio-Signature of a delivery signed by secrets, the
// secrets that sign it now: the current one first, then the previous one while
// a rotation's grace period lasts (Endpoint.SigningSecrets). It is the
// signature of the last of them — the previous secret until the grace period
// ends, then the current one. A receiver that follows the published docs holds
// one secret, the one it had before the rotation: X-Empfio-Signature keeps
// verifying with it for the whole grace period, during which the receiver is
// changed to accept both secrets, and then the new one alone (README, "Rotate a
// secret"). webhook-signature carries a signature per secret meanwhile. A
// rotation with no grace period (a leaked secret) switches both at once.
func SignBody(secrets []string, body []byte) string {
	return Sign(secrets[len(secrets)-1], body)
}

// Verify reports whether signature is Sign(secret, body), in constant time.
// Upper-case hex is accepted: it is decoded before comparing. It is the
// consumer package's check (verify.Verify), so receivers and this service agree.
func Verify(secret string, body []byte, signature string) bool {
	return verify.Verify(secret, body, signature)
}

// SignStandard returns the Standard Webhooks webhook-signature value for msgID,
// unix timestamp ts and body: "v1,<base64 HMAC-SHA256>" per secret, space separated.
// The HMAC key is the base64-decoded part of each secret after whsec_.
func SignStandard(secrets []string, msgID string, ts int64, body []byte) string {
	var b strings.Builder
	for i, s := range secrets {
		key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(s, SecretPrefix))
		if err != nil {
			continue // not a server-made secret; X-Empfio-Signature still signs
		}
		m := hmac.New(sha256.New, key)
		m.Write([]byte(msgID))
		m.Write([]byte{'.'})
		m.Write(strconv.AppendInt(nil, ts, 10))
		m.Write([]byte{'.'})
		m.Write(body)
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString("v1,")
		b.WriteString(base64.StdEncoding.EncodeToString(m.Sum(nil)))
	}
	return b.String()
}
