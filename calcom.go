package webhooks

import "time"

// CalcomIntegration is an organization's own Cal.com subscriber URL and signing
// secret. The URL carries a token that names the organization, so a body signed
// for one organization can never be posted into another. The token is shown
// once, in the URL, and stored as its SHA-256; the secret is what the user
// pastes into Cal.com's "Secret" field.
type CalcomIntegration struct {
	OrganizationID string     `json:"organization_id"`
	Connected      bool       `json:"connected"`
	SubscriberURL  string     `json:"subscriber_url,omitempty"` // set only when created
	Secret         string     `json:"secret,omitempty"`         // set only when created
	CreatedAt      *time.Time `json:"created_at"`               // nil when not connected
	Token          string     `json:"-"`
}

// CalcomTokenPrefix starts the token of every Cal.com subscriber URL.
const CalcomTokenPrefix = "cal_"

// NewCalcomIntegration returns fresh credentials for orgID: a token (and the
// hash to store) and a secret.
func NewCalcomIntegration(orgID string) (*CalcomIntegration, []byte) {
	token := CalcomTokenPrefix + randomBase62(apiKeyRandChars)
	return &CalcomIntegration{OrganizationID: orgID, Connected: true, Token: token, Secret: "calsec_" + randomBase62(apiKeyRandChars)}, HashAPIKey(token)
}
