package jobs

import (
	"bytes"
	"testing"
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
