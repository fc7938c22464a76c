package webhooks

import (
	"encoding/json"
	"time"
)

// AuditEvent is one change to an organization's webhooks, keys, links or
// integrations, or one look at a secret: who did it, what, to what, when and
// from where. Recorded after the change succeeded (AuditLog).
type AuditEvent struct {
	ID             string          `json:"id"`
	OrganizationID string          `json:"organization_id"`
	Action         string          `json:"action"` // one of AuditActions
	Actor          string          `json:"actor"`  // "API key emp_1a2b…", "dashboard link of API key emp_1a2b…", "admin token"
	TargetType     string          `json:"target_type"`
	TargetID       *string         `json:"target_id"`
	Detail         json.RawMessage `json:"detail,omitempty"` // what changed, never a secret
	IP             string          `json:"ip"`
	UserAgent      string          `json:"user_agent"`
	RequestID      string          `json:"request_id"`
	CreatedAt      time.Time       `json:"created_at"`

	// Who, as stored: the API key (directly, or through a dashboard link made
	// with it), the dashboard link, or neither (the admin token).
	APIKeyID        *string `json:"-"`
	PortalSessionID *string `json:"-"`
}

// Audited actions.
const (
	AuditWebhookCreated       = "webhook.created"
	AuditWebhookUpdated       = "webhook.updated"
	AuditWebhookEnabled       = "webhook.enabled"
	AuditWebhookDisabled      = "webhook.disabled"
	AuditWebhookDeleted       = "webhook.deleted"
	AuditSecretRevealed       = "webhook.secret_revealed"
	AuditSecretRotated        = "webhook.secret_rotated"
	AuditAPIKeyCreated        = "api_key.created"
	AuditAPIKeyRevoked        = "api_key.revoked"
	AuditPortalSessionCreated = "portal_session.created"
	AuditListenSessionCreated = "listen_session.created"
	AuditCalcomConnected      = "calcom.connected"
	AuditDeliveryRetried      = "delivery.retried"
	AuditDeliveriesReplayed   = "webhook.replayed"
	AuditOrganizationCreated  = "organization.created"
)

// AuditActions are every action the audit log records.
var AuditActions = []string{AuditWebhookCreated, AuditWebhookUpdated, AuditWebhookEnabled, AuditWebhookDisabled,
	AuditWebhookDeleted, AuditSecretRevealed, AuditSecretRotated, AuditAPIKeyCreated, AuditAPIKeyRevoked,
	AuditPortalSessionCreated, AuditListenSessionCreated, AuditCalcomConnected, AuditDeliveryRetried,
	AuditDeliveriesReplayed, AuditOrganizationCreated}

// AuditFilter selects an organization's audit events, newest first.
type AuditFilter struct {
	OrganizationID string
	Action         string // "": any
	Cursor         *Cursor
	Limit          int
}
