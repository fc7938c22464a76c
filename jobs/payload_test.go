package jobs

import (
	"bytes"
	"testing"
	"time"
)

// A task carries its event's envelope after its header as it is — newlines,
// quotes and bytes JSON would escape included — and reads it back the same.
func TestPayload_CarriesTheEnvelopeByteForByte(t *testing.T) {
	envelope := []byte("\n{\"a\":\"line\\nbreak\",\n\"b\":\"<&>\"}\n\xff\x00")
	in := payload{DeliveryID: "d1", Published: &published{OrganizationID: "o", EventID: "e", EventType: "lead.created",
		EndpointID: "w", EndpointVersion: 7, Envelope: envelope}}
	out, err := decodePayload(in.encode())
	if err != nil {
		t.Fatal(err)
	}
	if out.DeliveryID != "d1" || out.Published == nil || out.Published.EndpointVersion != 7 || out.Published.EventType != "lead.created" {
		t.Fatalf("decoded %+v", out)
	}
	if !bytes.Equal(out.Published.Envelope, envelope) {
		t.Fatalf("envelope %q, want %q", out.Published.Envelope, envelope)
	}
}

// A task of the sweeper, a retry or the breaker is its header alone; a header
// that promises an envelope it does not carry, or no JSON at all, is refused.
func TestPayload_HeaderAloneAndBrokenOnes(t *testing.T) {
	plain := payload{DeliveryID: "d2"}
	out, err := decodePayload(plain.encode())
	if err != nil || out.DeliveryID != "d2" || out.Published != nil {
		t.Fatalf("header alone: %+v, %v", out, err)
	}
	for _, bad := range []string{`{"delivery_id":"d3","published":{"endpoint_id":"w"}}`, `not json`, ``} {
		if _, err := decodePayload([]byte(bad)); err == nil {
			t.Errorf("%q decoded without an error", bad)
		}
	}
}

// A batch carries each of its deliveries as its own task would, and each
// event's envelope once, byte for byte, whatever bytes it holds.
func TestBatchPayload_CarriesEachDeliveryAndEachEnvelopeOnce(t *testing.T) {
	first := []byte("{\"a\":\"x\"}\n\xff\x00\n")
	second := []byte(`{"b":"<&>"}`)
	member := func(id, event, endpoint string, envelope []byte) *payload {
		return &payload{DeliveryID: id, Trace: "tp-" + id, Published: &published{OrganizationID: "o", EventID: event,
			EventType: "lead.created", EndpointID: endpoint, EndpointVersion: 3, Envelope: envelope}}
	}
	in := []*payload{member("d1", "e1", "w1", first), member("d2", "e2", "w1", second), member("d3", "e1", "w2", first)}
	at := time.UnixMilli(1_700_000_000_123)
	b := encodeBatch(at, in)
	if n := bytes.Count(b, first); n != 1 {
		t.Errorf("the first event's envelope is carried %d times, want once", n)
	}
	out, err := decodeBatch(b)
	if err != nil {
		t.Fatal(err)
	}
	if !out.enqueuedAt.Equal(at) || len(out.deliveries) != 3 {
		t.Fatalf("decoded %v, %d deliveries", out.enqueuedAt, len(out.deliveries))
	}
	for i, got := range out.deliveries {
		want := in[i]
		if got.DeliveryID != want.DeliveryID || got.Trace != want.Trace || got.Published == nil ||
			got.Published.EventID != want.Published.EventID || got.Published.EndpointID != want.Published.EndpointID ||
			got.Published.EndpointVersion != 3 || !bytes.Equal(got.Published.Envelope, want.Published.Envelope) {
			t.Errorf("delivery %d: %+v %+v, want %+v %+v", i, got, got.Published, want, want.Published)
		}
	}
}

// A batch whose envelopes are not what its header says, or whose delivery
// names no envelope, is refused rather than sending the wrong bytes.
func TestBatchPayload_BrokenOnesAreRefused(t *testing.T) {
	good := encodeBatch(time.Now(), []*payload{{DeliveryID: "d1", Published: &published{EventID: "e1", Envelope: []byte(`{}`)}},
		{DeliveryID: "d2", Published: &published{EventID: "e2", Envelope: []byte(`{"x":1}`)}}})
	if _, err := decodeBatch(good); err != nil {
		t.Fatalf("the good one: %v", err)
	}
	for name, bad := range map[string][]byte{
		"an envelope short":          good[:len(good)-1],
		"bytes after the envelopes":  append(bytes.Clone(good), 'x'),
		"no envelopes at all":        []byte(`{"enqueued_at":1,"envelopes":[],"deliveries":[]}`),
		"a delivery with no payload": []byte(`{"enqueued_at":1,"envelopes":[2],"deliveries":[{"delivery_id":"d","envelope":0}]}` + "\n{}"),
		"an envelope out of range":   []byte(`{"enqueued_at":1,"envelopes":[2],"deliveries":[{"delivery_id":"d","published":{},"envelope":1}]}` + "\n{}"),
		"a negative length":          []byte(`{"enqueued_at":1,"envelopes":[-1],"deliveries":[]}` + "\n"),
		"not json":                   []byte("nope\n{}"),
	} {
		if _, err := decodeBatch(bad); err == nil {
			t.Errorf("%s: decoded without an error", name)
		}
	}
}
