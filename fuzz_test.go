package webhooks_test

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	webhooks "github.com/empfio/webhooks"
)

// Fuzz targets of the root package: whatever bytes arrive, these never panic and
// keep their promises. make test runs each for a few seconds (scripts/fuzz.sh);
// the seeds are in testdata/fuzz.

func FuzzSafeText(f *testing.F) {
	for _, s := range []string{"ok", "a\x00b", "\xff\xfe", "é", strings.Repeat("x", 5000), "😀😀"} {
		f.Add([]byte(s), 4)
	}
	f.Fuzz(func(t *testing.T, b []byte, max int) {
		if max %= 8192; max < 0 {
			max += 8192
		}
		got := webhooks.SafeText(b, max)
		if !utf8.ValidString(got) || strings.ContainsRune(got, 0) || len(got) > max {
			t.Fatalf("SafeText(%q, %d) = %q: not storable", b, max, got)
		}
	})
}

func FuzzVerify(f *testing.F) {
	f.Add("whsec_c2VjcmV0", []byte(`{"a":1}`), "deadbeef")
	f.Add("", []byte{}, "")
	f.Fuzz(func(t *testing.T, secret string, body []byte, sig string) {
		if webhooks.Verify(secret, body, sig) && !strings.EqualFold(sig, webhooks.Sign(secret, body)) {
			t.Fatalf("Verify accepted %q, which is not the signature", sig)
		}
		if !webhooks.Verify(secret, body, webhooks.Sign(secret, body)) {
			t.Fatal("Verify refused the right signature")
		}
	})
}

func FuzzCheckURLSyntax(f *testing.F) {
	for _, u := range []string{"https://example.com/x", "http://u:p@h/", "ftp://x", "", "https://[::1]:8443/a?b#c", "https://%zz"} {
		f.Add(u)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		if webhooks.CheckURLSyntax(raw, true) != nil {
			return
		}
		u, err := url.Parse(raw)
		if err != nil || u.Scheme != "https" || u.User != nil || u.Hostname() == "" || u.Fragment != "" || len(raw) > webhooks.MaxURLLength {
			t.Fatalf("CheckURLSyntax accepted %q", raw)
		}
	})
}

func FuzzDecodeCursor(f *testing.F) {
	f.Add(webhooks.Cursor{CreatedAt: time.Unix(1700000000, 0), ID: "550e8400-e29b-41d4-a716-446655440000"}.Encode())
	f.Add("!!!")
	f.Fuzz(func(t *testing.T, token string) {
		c, err := webhooks.DecodeCursor(token)
		if err != nil {
			if webhooks.ErrorCode(err) != webhooks.EINVALID {
				t.Fatalf("DecodeCursor(%q): %v, want EINVALID", token, err)
			}
			return
		}
		if again, err := webhooks.DecodeCursor(c.Encode()); err != nil || again.ID != c.ID || !again.CreatedAt.Equal(c.CreatedAt) {
			t.Fatalf("a decoded cursor does not round-trip: %+v", c)
		}
	})
}

func FuzzEventData(f *testing.F) {
	f.Add("lead.created", []byte(`{"id":"l1","channel":"web","attendee":"x"}`))
	f.Add("booking.requested", []byte(`{"attendee":{"name":null,"x":[1,2]},"notes":"\u0000"}`))
	f.Add("conversation.escalated", []byte(`{"lead":[1],"reason":"r"}`))
	f.Fuzz(func(t *testing.T, eventType string, raw []byte) {
		var data map[string]json.RawMessage
		if json.Unmarshal(raw, &data) != nil || data == nil {
			return
		}
		out := webhooks.EventData(eventType, data, time.Unix(1700000000, 0))
		var back map[string]json.RawMessage
		if err := json.Unmarshal(out, &back); err != nil {
			t.Fatalf("EventData wrote invalid JSON %s: %v", out, err)
		}
		for k := range data {
			if _, ok := back[k]; !ok {
				t.Fatalf("field %q was dropped", k)
			}
		}
	})
}

func FuzzCanonicalID(f *testing.F) {
	f.Add("550e8400-e29b-41d4-a716-446655440000")
	f.Add("{550E8400-E29B-41D4-A716-446655440000}")
	f.Fuzz(func(t *testing.T, s string) {
		id, ok := webhooks.CanonicalID(s)
		if !ok {
			return
		}
		if again, ok := webhooks.CanonicalID(id); !ok || again != id || id != strings.ToLower(id) || len(id) != 36 {
			t.Fatalf("CanonicalID(%q) = %q is not canonical", s, id)
		}
	})
}
