// Package verify checks, in a receiver, that a request came from Empfio
// Webhooks: the X-Empfio-Signature header, the Standard Webhooks headers
// (webhook-id, webhook-timestamp, webhook-signature) with a timestamp tolerance,
// and an http.Handler middleware that verifies the Standard Webhooks signature
// and drops repeated deliveries by the id it signs. Every check takes several
// secrets, so that a receiver keeps working through a secret rotation (see
// README, "Rotate a secret"). It uses the standard library only: copy it, or
// import github.com/empfio/webhooks/verify.
package verify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Headers of a delivery.
const (
	HeaderSignature = "X-Empfio-Signature"
	HeaderDelivery  = "X-Empfio-Delivery"
	HeaderEvent     = "X-Empfio-Event"
	HeaderTimestamp = "X-Empfio-Timestamp"

	HeaderWebhookID        = "webhook-id"
	HeaderWebhookTimestamp = "webhook-timestamp"
	HeaderWebhookSignature = "webhook-signature"
)

// DefaultTolerance is how far a Standard Webhooks timestamp may be from the
// receiver's clock, as the Standard Webhooks libraries allow.
const DefaultTolerance = 5 * time.Minute

// Errors of Standard.
var (
	ErrMissingHeaders = errors.New("verify: missing webhook-id, webhook-timestamp or webhook-signature")
	ErrTimestamp      = errors.New("verify: webhook-timestamp is not a unix time within the tolerance")
	ErrSignature      = errors.New("verify: no signature matches")
)

// Verify reports whether header, the value of X-Empfio-Signature, is the
// lowercase hex HMAC-SHA256 of body keyed with secret (the whsec_… string as
// shown), comparing in constant time. body must be the raw bytes received.
//
// X-Empfio-Signature covers the body only: a captured delivery can be sent
// again, with any delivery id and timestamp. Standard (webhook-signature)
// covers the id and the timestamp too.
func Verify(secret string, body []byte, header string) bool {
	got, err := hex.DecodeString(strings.TrimSpace(header))
	if err != nil {
		return false
	}
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return hmac.Equal(got, m.Sum(nil))
}

// VerifyAny reports whether header, the value of X-Empfio-Signature, is the
// signature of body by one of secrets (see Verify): during a rotation, give it
// the new secret and the previous one.
func VerifyAny(secrets []string, body []byte, header string) bool {
	for _, s := range secrets {
		if Verify(s, body, header) {
			return true
		}
	}
	return false
}

// Standard verifies the Standard Webhooks headers of a delivery with body
// against secret: webhook-timestamp within tolerance of now (0 means
// DefaultTolerance), and one of the space-separated "v1,<base64>" signatures
// of webhook-signature equal to HMAC-SHA256(base64-decoded secret after
// whsec_, id.timestamp.body). While a rotated secret is in its grace period the
// header carries one signature per secret: either secret verifies.
func Standard(secret string, h http.Header, body []byte, tolerance time.Duration, now time.Time) error {
	return StandardAny([]string{secret}, h, body, tolerance, now)
}

// StandardAny is Standard with every secret that may sign: it succeeds when a
// signature of webhook-signature is that of one of secrets.
func StandardAny(secrets []string, h http.Header, body []byte, tolerance time.Duration, now time.Time) error {
	id, ts, sigs := h.Get(HeaderWebhookID), h.Get(HeaderWebhookTimestamp), h.Get(HeaderWebhookSignature)
	if id == "" || ts == "" || sigs == "" {
		return ErrMissingHeaders
	}
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || now.Sub(time.Unix(sec, 0)).Abs() > tolerance {
		return ErrTimestamp
	}
	for _, secret := range secrets {
		key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
		if err != nil {
			continue
		}
		m := hmac.New(sha256.New, key)
		m.Write([]byte(id + "." + ts + "."))
		m.Write(body)
		want := m.Sum(nil)
		for _, sig := range strings.Fields(sigs) {
			version, value, ok := strings.Cut(sig, ",")
			if !ok || version != "v1" {
				continue
			}
			if got, err := base64.StdEncoding.DecodeString(value); err == nil && hmac.Equal(got, want) {
				return nil
			}
		}
	}
	return ErrSignature
}
