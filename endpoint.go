package webhooks

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Endpoint is an HTTPS URL of an organization that receives the events it
// subscribes to. Secrets never appear in its JSON; they are revealed on purpose.
type Endpoint struct {
	ID             string       `json:"id"`
	OrganizationID string       `json:"organization_id"`
	URL            string       `json:"url"`
	Description    string       `json:"description"`
	Events         []string     `json:"events"`
	Enabled        bool         `json:"enabled"`
	DisabledReason *string      `json:"disabled_reason"`
	DisabledAt     *time.Time   `json:"-"`
	RetryPolicy    *RetryPolicy `json:"retry_policy"` // nil: the service default
	RateLimit      *RateLimit   `json:"rate_limit"`   // nil: unlimited
	// Filter, when set, lets through only the events whose envelope it
	// matches (Filter, CompileFilter); null: every event subscribed to.
	Filter Filter `json:"filter"`
	// Ordered: the deliveries of events that share an ordering key go one at
	// a time, in the order the events were accepted; one that fails holds
	// back the later ones of its key until it succeeds or fails for good.
	Ordered bool `json:"ordered"`
	// Headers are sent on every attempt (validateHeaders); stored like the
	// secrets. Never nil in what the API returns.
	Headers      map[string]string `json:"headers"`
	LastPingOKAt *time.Time        `json:"last_ping_ok_at"`
	// LastPingAt and LastPingError are the last ping's time and, when it
	// failed, what went wrong (null when it succeeded).
	LastPingAt    *time.Time     `json:"last_ping_at"`
	LastPingError *string        `json:"last_ping_error"`
	Stats         *EndpointStats `json:"stats,omitempty"` // in reads, not writes
	Health        Health         `json:"health"`          // Circuit as shown, held counted in reads
	Circuit       Circuit        `json:"-"`               // the circuit breaker's state (Breaker)
	DeletedAt     *time.Time     `json:"-"`               // a tombstone: deleted, its history not yet purged
	CreatedAt     time.Time      `json:"created_at"`
	UpdatedAt     time.Time      `json:"updated_at"`

	// Signing secrets. PreviousSecret keeps signing, next to Secret, until
	// PreviousSecretExpiresAt: the grace period of a rotation.
	Secret                  string     `json:"-"`
	PreviousSecret          *string    `json:"-"`
	PreviousSecretExpiresAt *time.Time `json:"-"`
}

// EndpointStats sum up an endpoint's recent deliveries for lists and dashboards.
type EndpointStats struct {
	LastDeliveryAt     *time.Time `json:"last_delivery_at"`     // the newest delivery's last change
	LastDeliveryStatus *string    `json:"last_delivery_status"` // and its status
	Deliveries24h      int        `json:"deliveries_24h"`       // created in the last 24 h and tried (attempted, or final)
	SuccessRate24h     *float64   `json:"success_rate_24h"`     // succeeded ÷ tried, null when none: 0 for an endpoint failing everything, retries still to come
}

// NewEndpointStats fills the success rate from the counts of tried and
// succeeded deliveries of the last 24 h.
func NewEndpointStats(lastAt *time.Time, lastStatus *string, tried, succeeded int) *EndpointStats {
	st := &EndpointStats{LastDeliveryAt: lastAt, LastDeliveryStatus: lastStatus, Deliveries24h: tried}
	if tried > 0 {
		rate := float64(succeeded) / float64(tried)
		st.SuccessRate24h = &rate
	}
	return st
}

// Limits of an endpoint's fields.
const (
	MaxURLLength         = 2048
	MaxDescriptionLength = 500
	MaxSubscriptions     = 50
)

// Validate checks the fields a user sets, except the URL's network target (see
// TargetPolicy). Returns EINVALID naming every bad field.
func (e *Endpoint) Validate() error {
	var errs []FieldError
	if err := CheckURLSyntax(e.URL, false); err != nil { // https is TargetPolicy's rule
		errs = append(errs, FieldError{"url", err.Error()})
	}
	if len(e.Description) > MaxDescriptionLength {
		errs = append(errs, FieldError{"description", fmt.Sprintf("must be at most %d characters", MaxDescriptionLength)})
	}
	errs = append(errs, validateSubscriptions(e.Events)...)
	if e.RetryPolicy != nil {
		errs = append(errs, e.RetryPolicy.validate()...)
	}
	errs = append(errs, validateHeaders(e.Headers)...)
	if _, err := CompileFilter(e.Filter); err != nil {
		errs = append(errs, err.(*Error).Fields...)
	}
	if e.RateLimit != nil && (e.RateLimit.PerSecond < 1 || e.RateLimit.PerSecond > MaxRateLimit) {
		errs = append(errs, FieldError{"rate_limit.per_second", fmt.Sprintf("must be between 1 and %d", MaxRateLimit)})
	}
	if len(errs) > 0 {
		return Invalid(errs...)
	}
	return nil
}

// CheckSubscriptions returns EINVALID naming each bad entry of events.
func CheckSubscriptions(events []string) error {
	if errs := validateSubscriptions(events); len(errs) > 0 {
		return Invalid(errs...)
	}
	return nil
}

func validateSubscriptions(events []string) []FieldError {
	if len(events) == 0 {
		return []FieldError{{"events", `must name at least one event type, or "*" for all`}}
	}
	if len(events) > MaxSubscriptions {
		return []FieldError{{"events", fmt.Sprintf("must have at most %d entries", MaxSubscriptions)}}
	}
	var errs []FieldError
	for i, s := range events {
		if !ValidSubscription(s) {
			errs = append(errs, FieldError{fmt.Sprintf("events[%d]", i), fmt.Sprintf("unknown event type %q; see GET /api/v1/event-types", s)})
		}
	}
	return errs
}

// Subscribes reports whether e's subscriptions select eventType.
func (e *Endpoint) Subscribes(eventType string) bool {
	for _, k := range SubscriptionKeys(eventType) {
		if slices.Contains(e.Events, k) {
			return true
		}
	}
	return false
}

// SigningSecrets returns the secrets that sign a delivery at time now: the current
// one first, then the previous one while its grace period lasts.
func (e *Endpoint) SigningSecrets(now time.Time) []string {
	secrets := []string{e.Secret}
	if e.PreviousSecret != nil && e.PreviousSecretExpiresAt != nil && now.Before(*e.PreviousSecretExpiresAt) {
		secrets = append(secrets, *e.PreviousSecret)
	}
	return secrets
}

// EndpointUpdate holds the fields PATCH may change. An absent field stays as
// it is; null resets it to its default (description "", retry_policy and
// rate_limit the service's, headers and filter none, ordered false); url, events and enabled have no default and may
// not be null.
type EndpointUpdate struct {
	URL         Patch[string]            `json:"url"`
	Events      Patch[[]string]          `json:"events"`
	Description Patch[string]            `json:"description"`
	Enabled     Patch[bool]              `json:"enabled"`
	RetryPolicy Patch[RetryPolicy]       `json:"retry_policy"`
	RateLimit   Patch[RateLimit]         `json:"rate_limit"`
	Headers     Patch[map[string]string] `json:"headers"`
	Filter      Patch[Filter]            `json:"filter"`
	Ordered     Patch[bool]              `json:"ordered"`
	// Replay, with "enabled": true on a disabled endpoint, says what happens to
	// what was held or failed while it was off (ReplayHeld when absent).
	Replay *string `json:"replay"`
}

// Enabling reports whether u turns the endpoint on.
func (u *EndpointUpdate) Enabling() bool { return u.Enabled.Value != nil && *u.Enabled.Value }

// Check rejects a null where there is no default, and a replay that is
// unknown or does not come with enabling.
func (u *EndpointUpdate) Check() error {
	var errs []FieldError
	for name, null := range map[string]bool{"url": u.URL.IsNull(), "events": u.Events.IsNull(), "enabled": u.Enabled.IsNull()} {
		if null {
			errs = append(errs, FieldError{name, "may not be null"})
		}
	}
	switch {
	case u.Replay == nil:
	case !ValidReplay(*u.Replay):
		errs = append(errs, FieldError{"replay", `must be "held", "held_and_failed" or "none"`})
	case !u.Enabling():
		errs = append(errs, FieldError{"replay", `only with "enabled": true`})
	}
	if len(errs) > 0 {
		slices.SortFunc(errs, func(a, b FieldError) int { return strings.Compare(a.Field, b.Field) })
		return Invalid(errs...)
	}
	return nil
}

// RateLimit caps the deliveries a second to one endpoint, across all workers.
type RateLimit struct {
	PerSecond int `json:"per_second"`
}

// MaxRateLimit bounds an endpoint's rate limit.
const MaxRateLimit = 10000

// Apply changes e by u (which Check accepted).
func (u *EndpointUpdate) Apply(e *Endpoint) {
	if u.URL.Set {
		e.URL = *u.URL.Value
	}
	if u.Events.Set {
		e.Events = *u.Events.Value
	}
	if u.Description.Set {
		e.Description = ""
		if u.Description.Value != nil {
			e.Description = *u.Description.Value
		}
	}
	if u.Enabled.Set {
		e.Enabled = *u.Enabled.Value
		if e.Enabled {
			e.DisabledReason = nil
		}
	}
	if u.RetryPolicy.Set {
		e.RetryPolicy = u.RetryPolicy.Value
	}
	if u.RateLimit.Set {
		e.RateLimit = u.RateLimit.Value
	}
	if u.Filter.Set {
		e.Filter = nil
		if u.Filter.Value != nil {
			e.Filter = *u.Filter.Value
		}
	}
	if u.Ordered.Set {
		e.Ordered = u.Ordered.Value != nil && *u.Ordered.Value
	}
	if u.Headers.Set {
		e.Headers = map[string]string{}
		if u.Headers.Value != nil {
			e.Headers = *u.Headers.Value
		}
	}
}

// RetryPolicy overrides the service's retry schedule for one endpoint.
type RetryPolicy struct {
	MaxRetries int      `json:"max_retries"`
	Window     Duration `json:"window"`
}

// Bounds of a per-endpoint retry policy.
const (
	MaxPolicyRetries = 10
	MinPolicyWindow  = 30 * time.Minute
	MaxPolicyWindow  = 72 * time.Hour
)

func (p *RetryPolicy) validate() []FieldError {
	var errs []FieldError
	if p.MaxRetries < 0 || p.MaxRetries > MaxPolicyRetries {
		errs = append(errs, FieldError{"retry_policy.max_retries", fmt.Sprintf("must be between 0 and %d", MaxPolicyRetries)})
	}
	if w := time.Duration(p.Window); w < MinPolicyWindow || w > MaxPolicyWindow {
		errs = append(errs, FieldError{"retry_policy.window", "must be between " + FormatDuration(MinPolicyWindow) + " and " + FormatDuration(MaxPolicyWindow)})
	}
	return errs
}

// Duration is a time.Duration written in JSON as a Go duration string ("30m").
type Duration time.Duration

func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("must be a duration string such as \"30m\" or \"24h\"")
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("must be a duration string such as \"30m\" or \"24h\"")
	}
	*d = Duration(v)
	return nil
}

// Grace periods of a secret rotation: the previous secret keeps signing, next to
// the new one, for this long, so receivers can switch without missing a delivery.
const (
	DefaultRotationGrace = 24 * time.Hour
	MaxRotationGrace     = 7 * 24 * time.Hour
)

// SecretRotation asks for a new endpoint secret.
type SecretRotation struct {
	Grace *Duration `json:"grace"` // nil: DefaultRotationGrace
}

// GracePeriod returns how long the previous secret keeps signing. Returns
// EINVALID outside 0..MaxRotationGrace.
func (r SecretRotation) GracePeriod() (time.Duration, error) {
	if r.Grace == nil {
		return DefaultRotationGrace, nil
	}
	g := time.Duration(*r.Grace)
	if g < 0 || g > MaxRotationGrace {
		return 0, Invalid(FieldError{"grace", "must be between 0s and 168h"})
	}
	return g, nil
}
