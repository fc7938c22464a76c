package api

import (
	"bufio"
	"context"
	"fmt"
	"regexp"
	"strings"
	"time"

	webhooks "github.com/empfio/webhooks"
	"github.com/empfio/webhooks/jobs"
	"github.com/gofiber/fiber/v2"
)

// Listen sessions serve `empfio listen` (cmd/empfio): see webhooks.ListenScheme.
const (
	// listenStreamFor is how long one stream stays open: under the server's
	// WriteTimeout; the CLI reconnects at once with Last-Event-ID.
	listenStreamFor = 25 * time.Second
	// listenBlock is how long one read of the session's stream waits; a
	// keep-alive comment is sent after each empty one.
	listenBlock = 5 * time.Second
)

// streamID is the form of a Redis stream entry id, the events' ids.
var streamID = regexp.MustCompile(`^[0-9]{1,20}-[0-9]{1,20}$`)

type listenRequest struct {
	Events []string `json:"events"` // default ["*"]
	// Secret is the caller's own signing secret for the session (empfio
	// listen keeps one per API key and machine, so that a local server's
	// configuration outlives its sessions); a new one when absent.
	Secret string `json:"secret,omitempty"`
}

// createListenSession: POST /listen-sessions {"events": [...]} → a temporary
// endpoint whose deliveries the caller pulls from its stream; DELETE
// /webhooks/{id} ends it.
func (s *Server) createListenSession(c *fiber.Ctx) error {
	var req listenRequest
	if len(c.Body()) > 0 {
		if err := decodeJSON(c, &req); err != nil {
			return err
		}
	}
	if len(req.Events) == 0 {
		req.Events = []string{"*"}
	}
	if err := webhooks.CheckSubscriptions(req.Events); err != nil {
		return err
	}
	if req.Secret != "" {
		if err := webhooks.CheckSecret(req.Secret); err != nil {
			return err
		}
	}
	e := &webhooks.Endpoint{OrganizationID: orgOf(c), Description: webhooks.ListenDescription, Events: req.Events, Secret: req.Secret}
	if err := principalOf(c).CheckSubscriptions(req.Events); err != nil {
		return err
	}
	if err := s.DB.CreateListenEndpoint(c.UserContext(), e); err != nil {
		return err
	}
	s.audit(c, e.OrganizationID, webhooks.AuditListenSessionCreated, "listen_session", e.ID, fiber.Map{"events": e.Events})
	return c.Status(fiber.StatusCreated).JSON(fiber.Map{"id": e.ID, "webhook_id": e.ID, "secret": e.Secret, "events": e.Events,
		"stream_url": s.PublicURL + "/api/v1/listen-sessions/" + e.ID + "/stream"})
}

// listenSession loads the listen session named by the :id parameter, scoped
// to the caller's organization.
func (s *Server) listenSession(c *fiber.Ctx) (*webhooks.Endpoint, error) {
	id, err := idParam(c, "id", "Listen session")
	if err != nil {
		return nil, err
	}
	e, err := s.DB.Endpoint(c.UserContext(), orgOf(c), id)
	if err != nil {
		return nil, err
	}
	if _, ok := webhooks.ListenSession(e.URL); !ok {
		return nil, webhooks.Errorf(webhooks.ENOTFOUND, "Listen session not found.")
	}
	return e, nil
}

// endListenSession: DELETE /listen-sessions/{id} → 204; the CLI ends its session.
func (s *Server) endListenSession(c *fiber.Ctx) error {
	e, err := s.listenSession(c)
	if err != nil {
		return err
	}
	if err := s.DB.DeleteEndpoint(c.UserContext(), orgOf(c), e.ID); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

// listenStream: GET /listen-sessions/{id}/stream → server-sent events, one
// "delivery" event per delivery (its id is the stream position: send it back
// as Last-Event-ID to resume), keep-alive comments between; the stream ends
// after listenStreamFor, for the client to reconnect.
func (s *Server) listenStream(c *fiber.Ctx) error {
	e, err := s.listenSession(c)
	if err != nil {
		return err
	}
	after := c.Get("Last-Event-ID")
	if after == "" {
		after = "0"
	} else if !streamID.MatchString(after) {
		return webhooks.Invalid(webhooks.FieldError{Field: "Last-Event-ID", Message: "must be the id of an event of this stream, such as 1764480000000-0"})
	}
	after = strings.Clone(after) // fiber's header strings point into a reused buffer; the stream writer outlives the handler
	if err := s.DB.TouchListenSession(c.UserContext(), e.ID); err != nil {
		return err
	}
	stream := &jobs.ListenStream{Redis: s.Redis, ID: e.ID}
	// The first read is made here, so that Redis being down is a 503, not a
	// stream that ends at once.
	first, err := stream.Next(c.UserContext(), after, -1)
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderContentType, "text/event-stream")
	c.Set(fiber.HeaderCacheControl, "no-cache")
	c.Set("X-Accel-Buffering", "no")
	c.Context().SetBodyStreamWriter(func(w *bufio.Writer) {
		ctx, cancel := context.WithTimeout(context.Background(), listenStreamFor)
		defer cancel()
		msgs := first
		for {
			if len(msgs) == 0 {
				fmt.Fprint(w, ": waiting\n\n")
			}
			for _, m := range msgs {
				fmt.Fprintf(w, "id: %s\nevent: delivery\ndata: %s\n\n", m.ID, m.Values["m"])
				after = m.ID
			}
			if w.Flush() != nil || ctx.Err() != nil {
				return // the client left, or the stream's time is up
			}
			if msgs, err = stream.Next(ctx, after, listenBlock); err != nil && ctx.Err() == nil {
				fmt.Fprintf(w, "event: error\ndata: %q\n\n", err.Error())
				w.Flush()
				return
			}
		}
	})
	return nil
}

// Where a trigger sends the catalog's example.
const (
	triggerToListen = "listen" // the organization's connected listen sessions (the default)
	triggerToAll    = "all"    // every endpoint subscribed to the type
)

type triggerRequest struct {
	To string `json:"to"`
}

// triggerEvent: POST /event-types/{type}/trigger {"to": "listen"|"all"} → 202:
// publishes the catalog's example of the type, for trying receivers out — by
// default to the organization's connected `empfio listen` sessions only (409
// when none is), with "to": "all" to every endpoint subscribed to it (that
// the caller sees).
func (s *Server) triggerEvent(c *fiber.Ctx) error {
	name := c.Params("type")
	t, ok := webhooks.LookupEventType(name)
	if !ok || webhooks.IsOperational(name) || name == webhooks.WebhookPing {
		return webhooks.Errorf(webhooks.ENOTFOUND, "No event type %q can be triggered; see GET /api/v1/event-types.", name)
	}
	p := principalOf(c)
	if !p.AllowsEventType(name) {
		return webhooks.Errorf(webhooks.EFORBIDDEN, "This dashboard link may not use %s.", name)
	}
	var req triggerRequest
	if err := decodeOptionalJSON(c, &req); err != nil {
		return err
	}
	ev := newEvent(orgOf(c), t.Name, webhooks.SourceTrigger, nil, nil) // the catalog's string: fiber's params are reused buffers
	ev.Data = t.Example
	switch req.To {
	case "", triggerToListen:
		ids, err := s.DB.TargetIDs(c.UserContext(), ev.OrganizationID, true, jobs.ListenAbandoned, nil)
		if err != nil {
			return err
		}
		if len(ids) == 0 {
			return webhooks.Errorf(webhooks.ECONFLICT, `No empfio listen session is connected: start one, or send to every endpoint with {"to": "all"} (empfio trigger --all).`)
		}
		ev.Targets = ids
	case triggerToAll:
		if p.Limited() {
			ids, err := s.DB.TargetIDs(c.UserContext(), ev.OrganizationID, false, 0, p.Subscriptions())
			if err != nil {
				return err
			}
			ev.Targets = ids
		}
	default:
		return webhooks.Invalid(webhooks.FieldError{Field: "to", Message: `must be "listen" or "all"`})
	}
	ds, err := s.Publisher.Publish(c.UserContext(), ev)
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusAccepted).JSON(fiber.Map{"status": "accepted", "event_id": ev.ID, "deliveries": len(ds)})
}

// reportListenResult: POST /listen-sessions/{id}/results {reply, status_code,
// duration_ms, body, error} → 204: the CLI reports what the local server
// answered a delivery it forwarded, and the attempt records that.
func (s *Server) reportListenResult(c *fiber.Ctx) error {
	e, err := s.listenSession(c)
	if err != nil {
		return err
	}
	var r webhooks.ListenResult
	if err := decodeJSON(c, &r); err != nil {
		return err
	}
	if err := r.Validate(); err != nil {
		return err
	}
	r.Body = webhooks.SafeText([]byte(r.Body), webhooks.MaxResponseBody)
	r.Error = webhooks.SafeText([]byte(r.Error), webhooks.MaxErrorText)
	if err := jobs.ReportListenResult(c.UserContext(), s.Redis, e.ID, r); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}
