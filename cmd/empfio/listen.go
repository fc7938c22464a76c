package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	webhooks "github.com/empfio/webhooks"
)

// forwardTimeout bounds one forward to the local URL, as the service bounds a
// delivery.
const forwardTimeout = 10 * time.Second

// reconnectWait is the pause before reconnecting after a failed stream.
const reconnectWait = time.Second

type session struct {
	ID        string   `json:"id"`
	Secret    string   `json:"secret"`
	Events    []string `json:"events"`
	StreamURL string   `json:"stream_url"`
}

// printer writes what a command tells: lines for people, or with --json one
// JSON object a line for programs.
type printer struct {
	out  io.Writer
	json bool
}

// say prints text, or v as a JSON line.
func (p printer) say(text string, v any) {
	if p.json {
		b, _ := json.Marshal(v)
		fmt.Fprintln(p.out, string(b))
		return
	}
	fmt.Fprintln(p.out, text)
}

// listen runs a listen session until ctx ends (see the package comment).
func listen(ctx context.Context, c *client, forwardTo, events string, p printer) error {
	out := p.out
	req := map[string]any{"events": strings.Split(events, ",")}
	if secret, err := listenSecret(c); err == nil {
		req["secret"] = secret
	} else {
		p.say(fmt.Sprintf("(no secret kept on this machine: %v; this session has one of its own)", err),
			map[string]any{"type": "warning", "message": "no secret kept on this machine: " + err.Error()})
	}
	var s session
	if err := c.call(ctx, "POST", "/api/v1/listen-sessions", req, &s); err != nil {
		return fmt.Errorf("starting a listen session: %w", err)
	}
	defer func() {
		end, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := c.call(end, "DELETE", "/api/v1/listen-sessions/"+s.ID, nil, nil); err != nil {
			fmt.Fprintf(out, "could not end the listen session %s (it ends by itself within a minute): %v\n", s.ID, err)
		}
	}()
	p.say(fmt.Sprintf("Ready: forwarding %s to %s (Ctrl-C to stop).\nSigning secret of this session: %s",
		strings.Join(s.Events, ", "), forwardTo, s.Secret),
		map[string]any{"type": "ready", "session_id": s.ID, "events": s.Events, "forward_to": forwardTo, "secret": s.Secret})

	fwd := &http.Client{Timeout: forwardTimeout, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	last := ""
	for ctx.Err() == nil {
		err := stream(ctx, c, s.ID, &last, func(m webhooks.ListenMessage) {
			r := forward(ctx, fwd, forwardTo, m)
			p.say(describe(m, r), map[string]any{"type": "delivery", "delivery_id": m.DeliveryID, "event_type": m.EventType,
				"status_code": r.StatusCode, "duration_ms": r.DurationMS, "error": r.Error, "at": time.Now().UTC()})
			if err := c.call(ctx, "POST", "/api/v1/listen-sessions/"+s.ID+"/results", r, nil); err != nil && ctx.Err() == nil {
				fmt.Fprintf(out, "    (could not report the answer: %v)\n", err)
			}
		})
		if err != nil && ctx.Err() == nil {
			fmt.Fprintf(out, "stream interrupted (%v); reconnecting\n", err)
			select {
			case <-time.After(reconnectWait):
			case <-ctx.Done():
			}
		}
	}
	return nil
}

// stream reads one server-sent event stream of session id from after *last,
// calling each for every delivery and moving *last past it. It returns when
// the server ends the stream (nil) or it fails.
func stream(ctx context.Context, c *client, id string, last *string, each func(webhooks.ListenMessage)) error {
	h := http.Header{"Accept": {"text/event-stream"}}
	if *last != "" {
		h.Set("Last-Event-ID", *last)
	}
	resp, err := c.do(ctx, "GET", "/api/v1/listen-sessions/"+id+"/stream", nil, h)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return problem(resp)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 16<<20) // an envelope is at most MAX_BODY_BYTES and its headers
	var eventID, kind, data string
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if kind == "delivery" {
				var m webhooks.ListenMessage
				if err := json.Unmarshal([]byte(data), &m); err != nil {
					return fmt.Errorf("a delivery the api sent does not parse: %w", err)
				}
				each(m)
				*last = eventID
			} else if kind == "error" {
				return fmt.Errorf("the api: %s", data)
			}
			eventID, kind, data = "", "", ""
		case strings.HasPrefix(line, ":"):
			// a comment: keep-alive
		case strings.HasPrefix(line, "id: "):
			eventID = strings.TrimPrefix(line, "id: ")
		case strings.HasPrefix(line, "event: "):
			kind = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			data += strings.TrimPrefix(line, "data: ")
		}
	}
	return sc.Err()
}

// forward POSTs m to url as the service would have, and returns what the
// local server answered, as the api takes it.
func forward(ctx context.Context, c *http.Client, url string, m webhooks.ListenMessage) webhooks.ListenResult {
	start := time.Now()
	r := webhooks.ListenResult{Reply: m.Reply}
	defer func() { r.DurationMS = int(time.Since(start).Milliseconds()) }()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader([]byte(m.Body)))
	if err != nil {
		r.Error = err.Error()
		return r
	}
	for k, v := range m.Headers {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		r.Error = err.Error()
		return r
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, webhooks.MaxResponseBody))
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	r.StatusCode, r.Body = resp.StatusCode, webhooks.SafeText(body, webhooks.MaxResponseBody)
	return r
}

// describe is the line printed for a delivery forwarded.
func describe(m webhooks.ListenMessage, r webhooks.ListenResult) string {
	line := fmt.Sprintf("%s  %-24s %s  →", time.Now().Format("15:04:05"), m.EventType, m.DeliveryID)
	if r.StatusCode == 0 {
		return line + " error: " + r.Error
	}
	return fmt.Sprintf("%s %d %s (%d ms)", line, r.StatusCode, http.StatusText(r.StatusCode), r.DurationMS)
}

// trigger sends the catalog's example of eventType to the organization's
// listening sessions, or with all to every endpoint subscribed to it.
func trigger(ctx context.Context, c *client, eventType string, all bool, p printer) error {
	to := "listen"
	if all {
		to = "all"
	}
	var r struct {
		EventID    string `json:"event_id"`
		Deliveries int    `json:"deliveries"`
	}
	if err := c.call(ctx, "POST", "/api/v1/event-types/"+eventType+"/trigger", map[string]string{"to": to}, &r); err != nil {
		return fmt.Errorf("triggering %s: %w", eventType, err)
	}
	p.say(fmt.Sprintf("Triggered %s: event %s, %d deliveries.", eventType, r.EventID, r.Deliveries),
		map[string]any{"type": "triggered", "event_type": eventType, "event_id": r.EventID, "deliveries": r.Deliveries})
	return nil
}
