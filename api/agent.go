package api

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	webhooks "github.com/empfio/webhooks"
	"github.com/gofiber/fiber/v2"
)

type agentEventRequest struct {
	Type           string          `json:"type"`
	OrganizationID string          `json:"organization_id"`
	Data           json.RawMessage `json:"data"`
	EventID        *string         `json:"event_id"`
	OccurredAt     *string         `json:"occurred_at"`
}

// agentEvent: POST /webhooks/agent-event (internal token). The same event within
// the dedup window → 200 {"status":"duplicate"} and nothing stored; else 202
// {"status":"accepted","event_id"}. If storing fails after the dedup key was
// taken, the key is released so the sender's retry is accepted.
func (s *Server) agentEvent(c *fiber.Ctx) error {
	var req agentEventRequest
	if err := decodeJSON(c, &req); err != nil {
		return rejected(webhooks.SourceAgent, err)
	}
	eventType, data, occurredAt, err := req.validate()
	if err != nil {
		return rejected(webhooks.SourceAgent, err)
	}
	ev := newEvent(req.OrganizationID, eventType, webhooks.SourceAgent, nil, occurredAt)
	ev.Data = webhooks.EventData(eventType, data, ev.OccurredAt)
	ev.ExternalID = req.EventID
	return s.publishOnce(c, req.dedupKey(data), ev)
}

// validate checks the request, puts its organization id in canonical form, and returns the outbound event type, the data as a
// map, and when the event occurred (nil: now).
func (r *agentEventRequest) validate() (string, map[string]json.RawMessage, *time.Time, error) {
	var errs []webhooks.FieldError
	eventType, ok := webhooks.AgentEventTypes[r.Type]
	if !ok {
		errs = append(errs, webhooks.FieldError{Field: "type", Message: "must be one of " + strings.Join(webhooks.AgentTypeNames(), ", ")})
	}
	if id, ok := webhooks.CanonicalID(r.OrganizationID); ok {
		r.OrganizationID = id
	} else {
		errs = append(errs, webhooks.FieldError{Field: "organization_id", Message: "must be a UUID"})
	}
	var data map[string]json.RawMessage
	if len(r.Data) == 0 || json.Unmarshal(r.Data, &data) != nil || data == nil {
		errs = append(errs, webhooks.FieldError{Field: "data", Message: "must be a JSON object"})
	} else if ok {
		errs = append(errs, webhooks.ValidateAgentData(r.Type, data)...)
	}
	if r.EventID != nil && (*r.EventID == "" || len(*r.EventID) > webhooks.MaxExternalIDLength) {
		errs = append(errs, webhooks.FieldError{Field: "event_id", Message: fmt.Sprintf("must be 1 to %d characters", webhooks.MaxExternalIDLength)})
	}
	var occurredAt *time.Time
	if r.OccurredAt != nil {
		t, err := time.Parse(time.RFC3339, *r.OccurredAt)
		if err != nil {
			errs = append(errs, webhooks.FieldError{Field: "occurred_at", Message: "must be an RFC 3339 time"})
		}
		occurredAt = &t
	}
	if len(errs) > 0 {
		return "", nil, nil, webhooks.Invalid(errs...)
	}
	return eventType, data, occurredAt, nil
}

// dedupKey names "the same event": the sender's event_id when given, else the
// organization, type and canonical JSON of data (key order and whitespace do
// not matter).
func (r *agentEventRequest) dedupKey(data map[string]json.RawMessage) string {
	h := sha256.New()
	h.Write([]byte(r.OrganizationID + "\x00"))
	if r.EventID != nil {
		h.Write([]byte("id\x00" + *r.EventID))
	} else {
		h.Write([]byte("data\x00" + r.Type + "\x00"))
		h.Write(canonicalJSON(data))
	}
	return "agent:" + hex.EncodeToString(h.Sum(nil))
}

// canonicalJSON re-encodes v with sorted object keys and no whitespace; numbers
// keep their exact text.
func canonicalJSON(data map[string]json.RawMessage) []byte {
	var v any
	b, _ := json.Marshal(data)
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.UseNumber()
	dec.Decode(&v)
	out, _ := json.Marshal(v) // maps marshal with sorted keys
	return out
}
