package webhooks

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"strconv"
	"time"

	"github.com/go-json-experiment/json/jsontext"
)

// Event sources.
const (
	SourceAgent   = "agent"
	SourceCalcom  = "calcom"
	SourceAPI     = "api"
	SourceService = "service" // operational events: the service's own news
	SourceTrigger = "trigger" // a catalog example sent on purpose (empfio trigger)
)

// MaxExternalIDLength bounds the ids senders give their events (the agent's
// event_id, a Cal.com booking's uid): they are stored and indexed.
const MaxExternalIDLength = 200

// Event is something that happened in an organization. Its envelope is rendered
// once, when the event is stored, so every delivery attempt sends identical bytes.
type Event struct {
	ID             string  `json:"id"`
	OrganizationID string  `json:"organization_id"`
	Type           string  `json:"event"`
	Source         string  `json:"source"`
	ExternalID     *string `json:"external_id"` // the sender's event id, if any
	// OrderingKey, when set, orders the event's deliveries to endpoints with
	// ordered on after the earlier events of the same key (DeriveOrderingKey).
	OrderingKey *string         `json:"ordering_key"`
	OccurredAt  time.Time       `json:"occurred_at"`
	ReceivedAt  time.Time       `json:"received_at"`
	Data        json.RawMessage `json:"data"`
	Envelope    json.RawMessage `json:"-"`
	DedupKey    *string         `json:"-"`                    // the inbound dedup key it was accepted under
	Deliveries  []*Delivery     `json:"deliveries,omitempty"` // where it went, when read alone
	Exclude     string          `json:"-"`                    // an endpoint it is never delivered to
	// Targets, when not nil, are the only endpoints it may be delivered to
	// (those of them subscribed to its type): a trigger's.
	Targets []string `json:"-"`
	// Idempotency, when set, is the sender's Idempotency-Key the event is
	// stored under (POST /events): a key already used stores nothing.
	Idempotency *Idempotency `json:"-"`
}

// Idempotency is a sender's Idempotency-Key, and the hash of the request
// that used it (IdempotencyHash).
type Idempotency struct {
	Key  string
	Hash []byte
}

// Idempotency-Key rules (POST /events).
const (
	MaxIdempotencyKeyLength = 255
	IdempotencyWindow       = 24 * time.Hour // a key names its first event this long
)

// CheckIdempotencyKey returns EBADREQUEST unless key is 1 to
// MaxIdempotencyKeyLength printable ASCII characters.
func CheckIdempotencyKey(key string) error {
	if key == "" || len(key) > MaxIdempotencyKeyLength || !printableASCII(key) {
		return Errorf(EBADREQUEST, "The Idempotency-Key header must be 1 to %d printable ASCII characters.", MaxIdempotencyKeyLength)
	}
	return nil
}

// IdempotencyHash is what makes two requests under one Idempotency-Key the
// same: the SHA-256 of the body's canonical JSON (RFC 8785), so a retry that
// orders its keys or spaces its JSON differently is still the same request.
// body must be valid JSON.
func IdempotencyHash(body []byte) []byte {
	v := jsontext.Value(bytes.Clone(body))
	if err := v.Canonicalize(); err != nil {
		v = jsontext.Value(body)
	}
	sum := sha256.Sum256(v)
	return sum[:]
}

// Envelope is the body of every delivery:
//
//	{"id":"…","event":"booking.created","timestamp":"2026-03-07T10:30:00Z","organization_id":"…","data":{…}}
//
// The published docs show event, timestamp, organization_id and data; id is ours.
type Envelope struct {
	ID             string          `json:"id"`
	Event          string          `json:"event"`
	Timestamp      string          `json:"timestamp"`
	OrganizationID string          `json:"organization_id"`
	Data           json.RawMessage `json:"data"`
}

// FormatTime renders t as RFC 3339 UTC with seconds and Z, the one time format of
// envelopes and event data.
func FormatTime(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05Z")
}

// RenderEnvelope sets e.Envelope from the event's fields. data must be valid JSON.
func (e *Event) RenderEnvelope() error {
	b, err := json.Marshal(Envelope{
		ID:             e.ID,
		Event:          e.Type,
		Timestamp:      FormatTime(e.OccurredAt),
		OrganizationID: e.OrganizationID,
		Data:           e.Data,
	})
	if err != nil {
		return err
	}
	e.Envelope = b
	return nil
}

// EventFilter selects events of one organization, newest first.
type EventFilter struct {
	OrganizationID string
	Type           string
	Types          []string // nil: any (a limited principal's, Principal.EventTypes)
	Cursor         *Cursor
	Limit          int
}

// FormatDuration renders d for people: "5 days", "1 hour", "30 minutes",
// "90 seconds"; a duration of no whole unit keeps Go's form.
func FormatDuration(d time.Duration) string {
	for _, u := range []struct {
		d    time.Duration
		name string
	}{{24 * time.Hour, "day"}, {time.Hour, "hour"}, {time.Minute, "minute"}, {time.Second, "second"}} {
		if d >= u.d && d%u.d == 0 {
			n := int64(d / u.d)
			if n == 1 {
				return "1 " + u.name
			}
			return strconv.FormatInt(n, 10) + " " + u.name + "s"
		}
	}
	return d.String()
}
