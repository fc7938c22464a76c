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
	at := time.UnixMilli(1_700_000_000_123).UTC()
	in := payload{DeliveryID: "d1", CreatedAt: at, Envelope: envelope}
	out, err := decodePayload(in.encode())
	if err != nil {
		t.Fatal(err)
	}
	if out.DeliveryID != "d1" || !out.CreatedAt.Equal(at) || !bytes.Equal(out.Envelope, envelope) {
		t.Fatalf("decoded %+v, envelope %q", out, out.Envelope)
	}
}

// A task of the sweeper, a retry or the breaker is its header alone (one made
// before round 3 has no created_at); no delivery id, or no JSON, is refused.
func TestPayload_HeaderAloneAndBrokenOnes(t *testing.T) {
	out, err := decodePayload([]byte(`{"delivery_id":"d2"}`))
	if err != nil || out.DeliveryID != "d2" || out.Envelope != nil || !out.CreatedAt.IsZero() {
		t.Fatalf("header alone: %+v, %v", out, err)
	}
	for _, bad := range []string{`{"created_at":"2026-01-01T00:00:00Z"}`, `not json`, ``} {
		if _, err := decodePayload([]byte(bad)); err == nil {
			t.Errorf("%q decoded without an error", bad)
		}
	}
}

// A batch carries each of its deliveries as its own task would, and each
// envelope once, byte for byte, whatever bytes it holds.
func TestBatchPayload_CarriesEachDeliveryAndEachEnvelopeOnce(t *testing.T) {
	first := []byte("{\"a\":\"x\"}\n\xff\x00\n")
	second := []byte(`{"b":"<&>"}`)
	at := time.UnixMilli(1_700_000_000_123).UTC()
	in := []*payload{{DeliveryID: "d1", CreatedAt: at, Trace: "tp-1", Envelope: first}, {DeliveryID: "d2", CreatedAt: at, Envelope: second},
		{DeliveryID: "d3", CreatedAt: at, Envelope: first}, {DeliveryID: "d4", CreatedAt: at}}
	b := encodeBatch(in)
	if n := bytes.Count(b, first); n != 1 {
		t.Errorf("the first event's envelope is carried %d times, want once", n)
	}
	out, err := decodeBatch(b)
	if err != nil || len(out) != 4 {
		t.Fatalf("decoded %d deliveries, %v", len(out), err)
	}
	for i, got := range out {
		want := in[i]
		if got.DeliveryID != want.DeliveryID || got.Trace != want.Trace || !got.CreatedAt.Equal(at) || !bytes.Equal(got.Envelope, want.Envelope) ||
			(got.Envelope == nil) != (want.Envelope == nil) {
			t.Errorf("delivery %d: %+v, want %+v", i, got, want)
		}
	}
}

// A batch whose envelopes are not what its header says, or whose delivery
// names no id or no such envelope, is refused rather than sending the wrong
// bytes.
func TestBatchPayload_BrokenOnesAreRefused(t *testing.T) {
	good := encodeBatch([]*payload{{DeliveryID: "d1", Envelope: []byte(`{}`)}, {DeliveryID: "d2", Envelope: []byte(`{"x":1}`)}})
	if _, err := decodeBatch(good); err != nil {
		t.Fatalf("the good one: %v", err)
	}
	for name, bad := range map[string][]byte{
		"an envelope short":         good[:len(good)-1],
		"bytes after the envelopes": append(bytes.Clone(good), 'x'),
		"no newline at all":         []byte(`{"envelopes":[],"deliveries":[]}`),
		"a delivery with no id":     []byte(`{"envelopes":[2],"deliveries":[{"envelope":0}]}` + "\n{}"),
		"an envelope out of range":  []byte(`{"envelopes":[2],"deliveries":[{"delivery_id":"d","envelope":1}]}` + "\n{}"),
		"a negative length":         []byte(`{"envelopes":[-1],"deliveries":[]}` + "\n"),
		"not json":                  []byte("nope\n{}"),
	} {
		if _, err := decodeBatch(bad); err == nil {
			t.Errorf("%s: decoded without an error", name)
		}
	}
}
