package api

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"sync"

	webhooks "github.com/empfio/webhooks"
	"github.com/gofiber/fiber/v2"
)

// OpenAPIPath serves the OpenAPI 3.1 description of the API (no credentials).
const OpenAPIPath = "/api/v1/openapi.json"

// OpenAPI returns the OpenAPI 3.1 document of the whole public surface: every
// route with its request and answers, the errors (problem+json), and under
// webhooks the envelope and data of each event type the service sends. It is
// also committed as api/openapi.json (a test keeps the two equal, and checks
// the document against fiber's route table).
func OpenAPI() []byte {
	openAPIOnce.Do(func() {
		b, err := json.MarshalIndent(openAPIDocument(), "", "  ")
		if err != nil {
			panic(err)
		}
		openAPIJSON = append(b, '\n')
	})
	return openAPIJSON
}

var (
	openAPIOnce sync.Once
	openAPIJSON []byte
)

func (s *Server) openAPI(c *fiber.Ctx) error {
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSONCharsetUTF8)
	return c.Send(OpenAPI())
}

// doc builds the document's paths.
type doc struct {
	s     *schemas
	paths map[string]object
}

// Security schemes of the operations.
const (
	secAPIKey   = "apiKey"   // an organization's API key or a dashboard (portal) token
	secInternal = "internal" // INTERNAL_AUTH_TOKEN
	secAdmin    = "admin"    // ADMIN_TOKEN
	secNone     = ""
)

// op adds an operation: summary is its name in a list, description what it
// does. body is its request body schema (nil: none); ok maps the success
// status to its answer's schema (nil schema: no body).
func (d *doc) op(method, path, id, summary, description, security string, body object, ok map[string]object, params ...object) {
	o := object{"operationId": id, "summary": summary, "description": description, "tags": []string{tagOf(path)}}
	if security != secNone {
		o["security"] = []any{object{security: []string{}}}
	} else {
		o["security"] = []any{}
	}
	for _, name := range pathParams(path) {
		params = append(params, object{"name": name, "in": "path", "required": true, "schema": paramSchema(name)})
	}
	if len(params) > 0 {
		o["parameters"] = params
	}
	name := strings.ToUpper(id[:1]) + id[1:]
	if body != nil {
		o["requestBody"] = object{"required": true, "content": object{"application/json": object{"schema": d.named(name+"Request", body)}}}
	}
	responses := object{"4XX": object{"$ref": "#/components/responses/Problem"}, "default": object{"$ref": "#/components/responses/Problem"}}
	for status, schema := range ok {
		r := object{"description": statusText(status)}
		if schema != nil {
			answer := name + "Result" // "…Response" is what generated clients name their answers
			if len(ok) > 1 {
				answer += status
			}
			r["content"] = object{"application/json": object{"schema": d.named(answer, schema)}}
		}
		responses[status] = r
	}
	o["responses"] = responses
	item, found := d.paths[path]
	if !found {
		item = object{}
		d.paths[path] = item
	}
	item[strings.ToLower(method)] = o
}

// publishable are the event types senders may publish (POST /events): the
// catalog's, but the service's own.
func publishable() []string {
	var names []string
	for _, t := range webhooks.Catalog {
		if !webhooks.IsOperational(t.Name) && t.Name != webhooks.WebhookPing {
			names = append(names, t.Name)
		}
	}
	return names
}

// named registers inline object schema o as a component of that name, so
// that a generated client has a type for it; anything else is left as it is.
func (d *doc) named(name string, o object) object {
	if o["type"] != "object" || o["properties"] == nil {
		return o
	}
	if _, taken := d.s.named[name]; taken {
		panic("openapi: two schemas named " + name)
	}
	d.s.named[name] = o
	return object{"$ref": "#/components/schemas/" + name}
}

func statusText(status string) string {
	switch status {
	case "200":
		return "OK"
	case "201":
		return "Created"
	case "202":
		return "Accepted"
	case "204":
		return "No content"
	case "409":
		return "Conflict: the same event is being accepted by another request; retry after Retry-After"
	case "503":
		return "Unavailable"
	}
	return status
}

// pathParams returns the {names} of an OpenAPI path.
func pathParams(path string) []string {
	var names []string
	for _, seg := range strings.Split(path, "/") {
		if strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}") {
			names = append(names, seg[1:len(seg)-1])
		}
	}
	return names
}

func paramSchema(name string) object {
	if name == "token" || name == "type" {
		return object{"type": "string"}
	}
	return object{"type": "string", "format": "uuid"}
}

func tagOf(path string) string {
	switch {
	case strings.HasPrefix(path, "/api/v1/webhooks/agent-event"), strings.HasPrefix(path, "/api/v1/webhooks/calcom"):
		return "inbound"
	case strings.HasPrefix(path, "/api/v1/organizations"):
		return "administration"
	case !strings.HasPrefix(path, "/api/v1/"):
		return "operations"
	}
	return strings.Split(strings.TrimPrefix(path, "/api/v1/"), "/")[0]
}

func query(name, description string, schema object) object {
	return object{"name": name, "in": "query", "required": false, "description": description, "schema": schema}
}

func list(item object) object {
	return object{"type": "object", "required": []string{"data", "next_cursor"}, "properties": object{
		"data":        object{"type": "array", "items": item},
		"next_cursor": object{"type": []any{"string", "null"}, "description": "pass as ?cursor= for the next page; null on the last"},
	}}
}

func props(required []string, p object) object {
	o := object{"type": "object", "properties": p}
	if len(required) > 0 {
		o["required"] = required
	}
	return o
}

var (
	str        = object{"type": "string"}
	boolean    = object{"type": "boolean"}
	integer    = object{"type": "integer"}
	uuidSchema = object{"type": "string", "format": "uuid"}
	dateTime   = object{"type": "string", "format": "date-time"}
	// eventData is an event's data: its fields are its type's (the catalog's
	// examples, GET /event-types, and the webhooks section of this document).
	eventData = object{"type": "object", "additionalProperties": true,
		"description": "the event's fields, as its type defines them (GET /api/v1/event-types)"}
)

func statusOnly(values ...string) object {
	return props([]string{"status"}, object{"status": object{"type": "string", "enum": values}})
}

func openAPIDocument() object {
	s := newSchemas()
	d := &doc{s: s, paths: map[string]object{}}
	ref := func(v any) object { return s.of(reflect.TypeOf(v)) }
	webhook, delivery, event := ref(webhooks.Endpoint{}), ref(webhooks.Delivery{}), ref(webhooks.Event{})
	cursorParams := []object{query("limit", fmt.Sprintf("page size (default %d)", webhooks.DefaultPageSize),
		object{"type": "integer", "minimum": 1, "maximum": webhooks.MaxPageSize}),
		query("cursor", "next_cursor of the previous page", str)}

	// Operations.
	d.op("GET", "/healthz", "healthz", "Check liveness", "The process is up.", secNone, nil, map[string]object{"200": statusOnly("ok")})
	readiness := props([]string{"status", "checks"}, object{"status": object{"type": "string", "enum": []string{"ok", "unavailable"}},
		"checks": props([]string{"postgres", "redis"}, object{"postgres": str, "redis": str})})
	d.op("GET", "/readyz", "readyz", "Check readiness", "Postgres and Redis answer within a second (503 naming the one that does not).", secNone, nil,
		map[string]object{"200": readiness, "503": readiness})
	d.paths["/metrics"] = object{"get": object{"operationId": "metrics", "summary": "Get metrics", "tags": []string{"operations"},
		"description": "Prometheus metrics, on METRICS_ADDR only when that is set (not the public listener).",
		"security":    []any{}, "responses": object{"200": object{"description": "Prometheus text format",
			"content": object{"text/plain": object{"schema": str}}}, "4XX": object{"$ref": "#/components/responses/Problem"}}}}
	d.op("GET", OpenAPIPath, "openapi", "Get this document", "This document.", secNone, nil, map[string]object{"200": object{"type": "object"}})

	// Inbound.
	agentReq := props([]string{"type", "organization_id", "data"}, object{
		"type":            object{"type": "string", "enum": webhooks.AgentTypeNames()},
		"organization_id": uuidSchema, "data": eventData,
		"event_id":    object{"type": "string", "description": "the sender's id of the event: repeats within DEDUP_WINDOW are duplicates"},
		"occurred_at": dateTime,
	})
	accepted := props([]string{"status", "event_id"}, object{"status": object{"type": "string", "enum": []string{"accepted"}}, "event_id": uuidSchema})
	duplicate := props([]string{"status", "event_id"}, object{"status": object{"type": "string", "enum": []string{"duplicate"}}, "event_id": uuidSchema})
	d.op("POST", "/api/v1/webhooks/agent-event", "agentEvent", "Receive an agent event", "An event of the conversational agent (deduplicated).", secInternal,
		agentReq, map[string]object{"202": accepted, "200": duplicate})
	calcom := map[string]object{"202": accepted, "200": object{"oneOf": []any{duplicate, statusOnly("ok", "ignored")}}}
	calcomBody := object{"type": "object", "description": "Cal.com's webhook body (triggerEvent, createdAt, payload); signed with X-Cal-Signature-256"}
	calcomSig := object{"name": "X-Cal-Signature-256", "in": "header", "required": false,
		"description": "hex HMAC-SHA256 of the raw body with the secret", "schema": str}
	d.op("POST", "/api/v1/webhooks/calcom", "calcomWebhook", "Receive a Cal.com webhook (single tenant)", "A Cal.com booking webhook, single-tenant (CALCOM_WEBHOOK_SECRET).", secNone,
		calcomBody, calcom, calcomSig, query("organization_id", "the organization, when the payload's metadata does not name it", uuidSchema))
	d.op("POST", "/api/v1/webhooks/calcom/{token}", "calcomOrgWebhook", "Receive a Cal.com webhook for an organization", "A Cal.com booking webhook to an organization's own subscriber URL.", secNone,
		calcomBody, calcom, calcomSig)
	publish := props([]string{"event", "organization_id", "data"}, object{"event": object{"type": "string", "enum": publishable()},
		"organization_id": uuidSchema, "data": eventData,
		"occurred_at": dateTime, "ordering_key": object{"type": "string", "minLength": 1, "maxLength": webhooks.MaxOrderingKeyLength,
			"description": "webhooks with ordered on get the events of one key one at a time, in the order they were accepted"}})
	d.op("POST", "/api/v1/events", "publishEvent", "Publish an event", "Publish a catalog event (other Empfio services). With an Idempotency-Key, a repeat within 24 hours gets the first answer again (Idempotent-Replayed: true) and stores nothing; the same key with another body is 409. With an ordering_key, webhooks with ordered on get this event after the earlier ones of the key.",
		secInternal, publish,
		map[string]object{"202": props([]string{"status", "event_id", "deliveries"}, object{
			"status": object{"type": "string", "enum": []string{"accepted"}}, "event_id": uuidSchema, "deliveries": integer})},
		object{"name": headerIdempotencyKey, "in": "header", "required": false, "schema": object{"type": "string", "minLength": 1, "maxLength": webhooks.MaxIdempotencyKeyLength},
			"description": "the sender's key for this event, per organization, remembered 24 hours"})

	// Administration.
	apiKey := ref(webhooks.APIKey{})
	d.op("POST", "/api/v1/organizations", "createOrganization", "Create an organization", "Create an organization and its first API key.", secAdmin,
		request[createOrganizationRequest](s, "name"), map[string]object{"201": props([]string{"organization", "api_key"},
			object{"organization": ref(webhooks.Organization{}), "api_key": apiKey})})
	d.op("POST", "/api/v1/organizations/{id}/api-keys", "createAPIKey", "Create an API key", "Another API key (shown once).", secAdmin,
		request[createAPIKeyRequest](s), map[string]object{"201": apiKey})
	d.op("GET", "/api/v1/organizations/{id}/api-keys", "listAPIKeys", "List API keys", "The organization's API keys (never the keys themselves).", secAdmin,
		nil, map[string]object{"200": list(apiKey)})
	d.op("DELETE", "/api/v1/organizations/{id}/api-keys/{key_id}", "revokeAPIKey", "Revoke an API key", "Revoke an API key.", secAdmin, nil,
		map[string]object{"204": nil})

	// The management API.
	d.op("GET", "/api/v1/session", "session", "Get the current session", "Who the credential acts for.", secAPIKey, nil, map[string]object{"200": props(
		[]string{"organization", "kind", "read_only", "allowed_event_types", "expires_at", "insecure_targets_allowed"}, object{
			"organization": ref(webhooks.Organization{}), "kind": object{"type": "string", "enum": []string{"api_key", "portal"}},
			"read_only": boolean, "allowed_event_types": object{"type": []any{"array", "null"}, "items": str},
			"expires_at": nullable(dateTime), "insecure_targets_allowed": boolean})})
	d.op("POST", "/api/v1/portal-sessions", "createPortalSession", "Create a dashboard link", "A short-lived dashboard link for the organization.", secAPIKey,
		request[webhooks.PortalRequest](s), map[string]object{"201": props([]string{"id", "url", "expires_at", "read_only", "allowed_event_types"}, object{
			"id": uuidSchema, "url": str, "expires_at": dateTime, "read_only": boolean,
			"allowed_event_types": object{"type": []any{"array", "null"}, "items": str}})})
	d.op("GET", "/api/v1/event-types", "eventTypes", "List event types", "The event catalog, with example data.", secAPIKey, nil,
		map[string]object{"200": list(ref(webhooks.EventType{}))})
	integration := ref(webhooks.CalcomIntegration{})
	d.op("GET", "/api/v1/integrations/calcom", "calcomIntegration", "Get the Cal.com integration", "Whether Cal.com is connected.", secAPIKey, nil, map[string]object{"200": integration})
	d.op("POST", "/api/v1/integrations/calcom", "connectCalcom", "Connect Cal.com", "Connect Cal.com: the organization's subscriber URL and secret (shown once).",
		secAPIKey, nil, map[string]object{"201": integration})
	d.op("GET", "/api/v1/webhooks", "listWebhooks", "List webhooks", "The organization's webhooks, newest first.", secAPIKey, nil,
		map[string]object{"200": list(webhook)}, cursorParams...)
	created := s.of(reflect.TypeFor[webhookWithSecret]())
	d.op("POST", "/api/v1/webhooks", "createWebhook", "Create a webhook", "Register an endpoint; answers with its secret and the test ping's outcome.", secAPIKey,
		request[createWebhookRequest](s, "url", "events"), map[string]object{"201": created})
	d.op("GET", "/api/v1/webhooks/{id}", "getWebhook", "Get a webhook", "One webhook, with its stats and health.", secAPIKey, nil, map[string]object{"200": webhook})
	d.op("PATCH", "/api/v1/webhooks/{id}", "updateWebhook", "Update a webhook", "Change url, events, description, enabled (with replay), retry_policy, rate_limit, headers, filter, ordered; null resets a field to its default.",
		secAPIKey, request[webhooks.EndpointUpdate](s), map[string]object{"200": webhook})
	d.op("DELETE", "/api/v1/webhooks/{id}", "deleteWebhook", "Delete a webhook", "Delete a webhook and its delivery log.", secAPIKey, nil, map[string]object{"204": nil})
	d.op("POST", "/api/v1/webhooks/{id}/test", "testWebhook", "Test a webhook", "Without a body, send a webhook.ping now and answer its outcome (200); with an event_type, send that type's catalog example to this webhook as a real delivery — signed, logged, retried — and answer its id (202).",
		secAPIKey, request[testRequest](s), map[string]object{"200": ref(PingResult{}), "202": ref(TestEvent{})})
	d.op("POST", "/api/v1/webhooks/{id}/filter-test", "filterTest", "Try a filter on recent events", "Which of the organization's last 100 events of the webhook's types a filter would let through, evaluated as publishing evaluates it (null: every event).",
		secAPIKey, request[filterTestRequest](s), map[string]object{"200": ref(FilterTestResult{})})
	secret := props([]string{"secret", "previous_secret_expires_at"}, object{"secret": str, "previous_secret_expires_at": nullable(dateTime)})
	d.op("GET", "/api/v1/webhooks/{id}/secret", "revealSecret", "Reveal a webhook's secret", "Reveal the signing secret.", secAPIKey, nil, map[string]object{"200": secret})
	d.op("POST", "/api/v1/webhooks/{id}/secret/rotate", "rotateSecret", "Rotate a webhook's secret", "A new secret; the previous one keeps signing for the grace period.",
		secAPIKey, request[webhooks.SecretRotation](s), map[string]object{"200": secret})
	d.op("GET", "/api/v1/webhooks/{id}/deliveries", "listDeliveries", "List a webhook's deliveries", "The webhook's delivery log, newest first.", secAPIKey, nil,
		map[string]object{"200": list(delivery)}, append([]object{query("status", "only deliveries in this status", object{"type": "string", "enum": deliveryStatuses}),
			query("event_type", "only deliveries of this event type", str),
			query("event_id", "only the delivery of this event", uuidSchema),
			query("since", "only deliveries created at or after this time", dateTime),
			query("until", "only deliveries created before this time", dateTime)}, cursorParams...)...)
	d.op("GET", "/api/v1/webhooks/{id}/trends", "webhookTrends", "Get a webhook's trends", "The webhook's deliveries by outcome and its attempts' latency (p50, p95), a point per hour over 24 hours or per 6 hours over 7 days, every bucket present.",
		secAPIKey, nil, map[string]object{"200": ref(webhooks.Trends{})},
		query("window", "the span: 24h (the default) or 7d", object{"type": "string", "enum": []string{"24h", "7d"}}))
	d.op("POST", "/api/v1/webhooks/{id}/replay", "replay", "Replay failed deliveries", "Send again the failed deliveries of a time range.", secAPIKey,
		request[webhooks.ReplayRange](s, "since"), map[string]object{"202": props([]string{"replayed"}, object{"replayed": integer})})
	d.op("GET", "/api/v1/deliveries/{id}", "getDelivery", "Get a delivery", "One delivery with every attempt and its request; waiting_for names the earlier delivery of its ordering key it waits for.", secAPIKey, nil, map[string]object{"200": delivery})
	d.op("POST", "/api/v1/deliveries/{id}/retry", "retryDelivery", "Retry a delivery", "Send a delivery once more, now.", secAPIKey, nil, map[string]object{"202": delivery})
	d.op("GET", "/api/v1/audit-log", "auditLog", "List the audit log", "The organization's audit log, newest first: who (API key prefix, dashboard link, admin token) did what (secret reveals and rotations, key creation and revocation, webhook changes, links and listen sessions made, Cal.com connected, retries and replays), to what, when and from where. API keys only.",
		secAPIKey, nil, map[string]object{"200": list(ref(webhooks.AuditEvent{}))},
		append([]object{query("action", "only events of this action", object{"type": "string", "enum": webhooks.AuditActions})}, cursorParams...)...)
	d.op("GET", "/api/v1/events", "listEvents", "List events", "The events the organization received, newest first.", secAPIKey, nil,
		map[string]object{"200": list(event)}, append([]object{query("event_type", "only events of this type", str)}, cursorParams...)...)
	d.op("GET", "/api/v1/events/{id}", "getEvent", "Get an event", "One event, with where it went.", secAPIKey, nil, map[string]object{"200": event})

	d.op("POST", "/api/v1/event-types/{type}/trigger", "triggerEvent", "Trigger an example event", "Publish the catalog's example of an event type: to the organization's connected listen sessions (the default; 409 when none is), or with \"to\": \"all\" to every endpoint subscribed to it (empfio trigger).",
		secAPIKey, props(nil, object{"to": object{"type": "string", "enum": []string{triggerToListen, triggerToAll}, "default": triggerToListen}}),
		map[string]object{"202": props([]string{"status", "event_id", "deliveries"}, object{
			"status": object{"type": "string", "enum": []string{"accepted"}}, "event_id": uuidSchema, "deliveries": integer})})
	d.op("DELETE", "/api/v1/listen-sessions/{id}", "endListenSession", "End a listen session", "End a listen session.", secAPIKey, nil, map[string]object{"204": nil})
	d.op("POST", "/api/v1/listen-sessions/{id}/results", "reportListenResult", "Report a forwarded delivery's answer", "The CLI reports what the local server answered a forwarded delivery: the attempt records it.",
		secAPIKey, request[webhooks.ListenResult](s, "reply"), map[string]object{"204": nil})
	d.op("POST", "/api/v1/listen-sessions", "createListenSession", "Create a listen session", "A temporary endpoint whose deliveries the caller pulls from its stream (empfio listen); DELETE /listen-sessions/{id} ends it. It is not one of the organization's webhooks.",
		secAPIKey, request[listenRequest](s), map[string]object{"201": props([]string{"id", "webhook_id", "secret", "events", "stream_url"}, object{
			"id": uuidSchema, "webhook_id": uuidSchema, "secret": str, "events": object{"type": "array", "items": str}, "stream_url": str})})
	d.op("GET", "/api/v1/listen-sessions/{id}/stream", "listenStream", "Stream a listen session's deliveries", "Server-sent events: one `delivery` event per delivery (data: delivery_id, event_type, headers, body as sent), keep-alive comments between; it ends after about 25 s: reconnect with Last-Event-ID.",
		secAPIKey, nil, nil, object{"name": "Last-Event-ID", "in": "header", "required": false, "description": "the id of the last event received", "schema": str})
	d.paths["/api/v1/listen-sessions/{id}/stream"]["get"].(object)["responses"].(object)["200"] = object{"description": "OK",
		"content": object{"text/event-stream": object{"schema": str}}}

	s.of(reflect.TypeFor[Problem]())
	return object{
		"openapi": "3.1.0",
		"info": object{"title": "Empfio Webhooks", "version": webhooks.Version(),
			"description": "Signed, retried, logged webhooks for each organization: the management API, the inbound events, and (under webhooks) what the service sends. Errors are application/problem+json (RFC 9457).",
			"license":     object{"name": "Proprietary", "identifier": "LicenseRef-Proprietary"},
			"contact":     object{"name": "Empfio Webhooks", "url": "https://github.com/empfio/webhooks"}},
		"servers":  []any{object{"url": "/"}},
		"security": []any{object{secAPIKey: []string{}}},
		"tags": []any{
			object{"name": "webhooks", "description": "An organization's endpoints: register, change, test, rotate secrets, read the delivery log, replay."},
			object{"name": "deliveries", "description": "One delivery with its attempts; send it again."},
			object{"name": "events", "description": "The events the organization received, and publishing one (internal)."},
			object{"name": "event-types", "description": "The catalog of event types with example data."},
			object{"name": "session", "description": "Who a credential acts for."},
			object{"name": "portal-sessions", "description": "Short-lived dashboard links for the product's frontend."},
			object{"name": "integrations", "description": "Connecting Cal.com: a subscriber URL and secret of the organization's own."},
			object{"name": "inbound", "description": "Events from the conversational agent and from Cal.com."},
			object{"name": "administration", "description": "Organizations and API keys (ADMIN_TOKEN)."},
			object{"name": "operations", "description": "Health, readiness and metrics."},
			object{"name": "openapi.json", "description": "This document."},
			object{"name": "listen-sessions", "description": "Receiving webhooks on a machine that takes no inbound connections (empfio listen)."},
			object{"name": "audit-log", "description": "Who did what to the organization's webhooks, keys and integrations."},
		},
		"paths":    d.paths,
		"webhooks": outboundWebhooks(s),
		"components": object{
			"schemas": s.named,
			"responses": object{"Problem": object{"description": "An error (RFC 9457)",
				"content": object{"application/problem+json": object{"schema": object{"$ref": "#/components/schemas/Problem"}}}}},
			"securitySchemes": object{
				secAPIKey:   object{"type": "http", "scheme": "bearer", "description": "an organization's API key, or a portal session token"},
				secInternal: object{"type": "http", "scheme": "bearer", "description": "INTERNAL_AUTH_TOKEN"},
				secAdmin:    object{"type": "http", "scheme": "bearer", "description": "ADMIN_TOKEN"},
			},
		},
	}
}

// outboundWebhooks describes what the service POSTs to endpoints: the envelope
// with each event type's data, inferred from the catalog's example.
func outboundWebhooks(s *schemas) object {
	headers := []any{}
	for _, h := range []struct{ name, what string }{
		{"X-Empfio-Signature", "lowercase hex HMAC-SHA256 of the raw body, keyed with the secret string"},
		{"X-Empfio-Event", "the event type"},
		{"X-Empfio-Delivery", "the delivery id, the same on every attempt: drop repeats by it"},
		{"X-Empfio-Timestamp", "unix seconds of this attempt"},
		{"webhook-id", "Standard Webhooks: the message id"},
		{"webhook-timestamp", "Standard Webhooks: unix seconds"},
		{"webhook-signature", "Standard Webhooks: v1,<base64>, space-separated while a rotated secret signs too"},
	} {
		headers = append(headers, object{"name": h.name, "in": "header", "required": true, "description": h.what, "schema": str})
	}
	out := object{}
	for _, t := range webhooks.Catalog {
		var example any
		if err := json.Unmarshal(t.Example, &example); err != nil {
			panic(err)
		}
		envelope := props([]string{"id", "event", "timestamp", "organization_id", "data"}, object{
			"id": uuidSchema, "event": object{"type": "string", "const": t.Name}, "timestamp": dateTime, "organization_id": uuidSchema,
			"data": inferred(example)})
		out[t.Name] = object{"post": object{
			"operationId": "event_" + strings.NewReplacer(".", "_").Replace(t.Name),
			"summary":     t.Name,
			"description": t.Description,
			"parameters":  headers,
			"requestBody": object{"required": true, "content": object{"application/json": object{"schema": envelope,
				"example": object{"id": "9c8b7a6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d", "event": t.Name, "timestamp": "2026-03-07T10:30:00Z",
					"organization_id": "550e8400-e29b-41d4-a716-446655440000", "data": example}}}},
			"responses": object{"2XX": object{"description": "Accepted: any 2xx within the delivery timeout. Anything else is retried; 410 disables the endpoint."}},
		}}
	}
	return out
}
