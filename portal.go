package webhooks

import (
	"fmt"
	"slices"
	"time"
)

// PortalSession opens the dashboard for one organization without an API key: the
// product's frontend, which owns the customer's session, asks for one with its
// API key and opens (or embeds) the link. The token is shown once, in the link;
// only its SHA-256 is stored. It ends at ExpiresAt, or when the API key that
// created it is revoked.
type PortalSession struct {
	ID                string    `json:"id"`
	OrganizationID    string    `json:"organization_id"`
	APIKeyID          string    `json:"-"`
	ReadOnly          bool      `json:"read_only"`
	AllowedEventTypes []string  `json:"allowed_event_types"` // empty: every event type
	ExpiresAt         time.Time `json:"expires_at"`
	CreatedAt         time.Time `json:"created_at"`
	Token             string    `json:"-"` // set only when created
}

// Lifetimes of a portal session.
const (
	DefaultPortalTTL = time.Hour
	MaxPortalTTL     = 24 * time.Hour
)

// PortalTokenPrefix starts every portal token, so that a token is never taken
// for an API key (emp_) or the other way round.
const PortalTokenPrefix = "emps_"

// NewPortalToken returns a fresh portal token and the hash to store.
func NewPortalToken() (token string, hash []byte) {
	token = PortalTokenPrefix + randomBase62(apiKeyRandChars)
	return token, HashAPIKey(token)
}

// PortalRequest is what the product's frontend asks for.
type PortalRequest struct {
	ReadOnly          bool      `json:"read_only"`
	AllowedEventTypes []string  `json:"allowed_event_types"`
	TTL               *Duration `json:"ttl"` // nil: DefaultPortalTTL
}

// Session validates r and returns the session it describes, created at now.
// Returns EINVALID naming each bad field.
func (r PortalRequest) Session(orgID, apiKeyID string, now time.Time) (*PortalSession, error) {
	var errs []FieldError
	ttl := DefaultPortalTTL
	if r.TTL != nil {
		ttl = time.Duration(*r.TTL)
	}
	if ttl < time.Minute || ttl > MaxPortalTTL {
		errs = append(errs, FieldError{"ttl", "must be between 1m and 24h"})
	}
	if len(r.AllowedEventTypes) > MaxSubscriptions {
		errs = append(errs, FieldError{"allowed_event_types", fmt.Sprintf("must have at most %d entries", MaxSubscriptions)})
		r.AllowedEventTypes = nil
	}
	for i, s := range r.AllowedEventTypes {
		if !ValidSubscription(s) {
			errs = append(errs, FieldError{fmt.Sprintf("allowed_event_types[%d]", i), fmt.Sprintf("unknown event type %q", s)})
		}
	}
	if len(errs) > 0 {
		return nil, Invalid(errs...)
	}
	return &PortalSession{OrganizationID: orgID, APIKeyID: apiKeyID, ReadOnly: r.ReadOnly,
		AllowedEventTypes: r.AllowedEventTypes, ExpiresAt: now.Add(ttl), CreatedAt: now}, nil
}

// Principal is who a management request acts for: an API key, or a portal
// session opened with one.
type Principal struct {
	OrganizationID string
	APIKeyID       string
	Portal         *PortalSession // nil for an API key
}

// ReadOnly reports whether the principal may only look.
func (p *Principal) ReadOnly() bool { return p.Portal != nil && p.Portal.ReadOnly }

// Limited reports whether the principal acts only inside some event types: a
// dashboard link with allowed_event_types. Such a link sees and changes only
// the endpoints whose every subscription lies inside them (Sees), subscribes
// only to them (CheckSubscriptions), and sees only the events and deliveries
// of those types (AllowsEventType). Integrations, dashboard links and API keys
// are for API keys alone.
func (p *Principal) Limited() bool { return p.Portal != nil && len(p.Portal.AllowedEventTypes) > 0 }

// AllowsEventType reports whether the principal may see and subscribe to
// eventType.
func (p *Principal) AllowsEventType(eventType string) bool {
	if !p.Limited() {
		return true
	}
	for _, k := range SubscriptionKeys(eventType) {
		if slices.Contains(p.Portal.AllowedEventTypes, k) {
			return true
		}
	}
	return false
}

// covers reports whether every event type subscription s selects is one the
// principal may see ("*" selects them all).
func (p *Principal) covers(s string) bool {
	for _, t := range Catalog {
		if t.Name != WebhookPing && selects(s, t.Name) && !p.AllowsEventType(t.Name) {
			return false
		}
	}
	return true
}

// Sees reports whether the principal may see and change endpoint e: every one
// of its subscriptions lies inside the principal's event types.
func (p *Principal) Sees(e *Endpoint) bool {
	return !p.Limited() || !slices.ContainsFunc(e.Events, func(s string) bool { return !p.covers(s) })
}

// Subscriptions returns every subscription that lies inside a limited
// principal's event types — exact types, prefixes, "*" — so that a store can
// list the endpoints it Sees (those whose subscriptions are all among them);
// nil when the principal is not limited.
func (p *Principal) Subscriptions() []string {
	if !p.Limited() {
		return nil
	}
	out := []string{}
	for _, s := range AllSubscriptions() {
		if p.covers(s) {
			out = append(out, s)
		}
	}
	return out
}

// EventTypes returns the event types a limited principal may see; nil when it
// is not limited.
func (p *Principal) EventTypes() []string {
	if !p.Limited() {
		return nil
	}
	out := []string{}
	for _, t := range Catalog {
		if p.AllowsEventType(t.Name) {
			out = append(out, t.Name)
		}
	}
	return out
}

// CheckSubscriptions returns EINVALID naming "events" when a subscription of
// events selects an event type the principal may not subscribe to.
func (p *Principal) CheckSubscriptions(events []string) error {
	for i, s := range events {
		if !p.covers(s) {
			return Invalid(FieldError{fmt.Sprintf("events[%d]", i), fmt.Sprintf("%q selects event types this dashboard link may not use", s)})
		}
	}
	return nil
}

// selects reports whether subscription s selects eventType.
func selects(s, eventType string) bool {
	return slices.Contains(SubscriptionKeys(eventType), s)
}
