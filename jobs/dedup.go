package jobs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"time"

	webhooks "github.com/empfio/webhooks"
	"github.com/redis/go-redis/v9"
)

// Dedup defaults (DEDUP_WINDOW, DEDUP_LEASE).
const (
	// DefaultDedupWindow is how long a stored inbound event is remembered.
	DefaultDedupWindow = 60 * time.Second
	// DefaultDedupLease is how long a claim may stay in flight: well under the
	// window, well over the time it takes to store an event. A claim whose owner
	// died is taken over once its lease ends.
	DefaultDedupLease = 10 * time.Second
)

// Dedup recognises repeats of inbound events across every API process, so that
// "duplicate" is only ever said of an event that is stored. One SET NX claims
// an event's key for the whole window, in the name of one request, stamped
// with when it was claimed:
//
//   - a repeat that finds the key claimed asks Postgres whether the event is
//     stored under the key (a duplicate if so); if not, the claim is either
//     still being stored (the repeat gets 409 and retries) or, once the claim
//     is older than Lease, its request died: the repeat takes the claim over
//     (compare-and-set) and stores the event itself;
//   - if storing fails, Claim.Release frees the key at once, so the sender's
//     retry is accepted.
//
// Nothing is written to Redis after the event is stored: one round trip per
// accepted event. If Redis loses its keys, a repeat is accepted again: at worst
// a second copy, never a lost event.
type Dedup struct {
	Redis  redis.UniversalClient
	Window time.Duration
	Lease  time.Duration
}

const dedupPrefix = "empfio:dedup:"

// Values of a dedup key.
const (
	claimValue = "claim:" // + the claim's time (unix ms) + ":" + the owner's token
	seenValue  = "seen:"  // + the id of the stored event (a Cal.com booking stored before the window)
)

// ClaimState is what Claim found.
type ClaimState int

const (
	// Claimed: the key is the caller's; store the event, and Release if that fails.
	Claimed ClaimState = iota
	// Seen: the event is stored; SeenEventID names it.
	Seen
	// InFlight: another request claimed the key. Ask Postgres whether the
	// event is stored; if not, TakeOver tells whether the caller may store it.
	InFlight
)

// Claim is a claim on a dedup key.
type Claim struct {
	State       ClaimState
	SeenEventID string // with Seen
	d           *Dedup
	key, value  string // the key, and the value the caller wrote (Claimed) or found (InFlight)
}

// swapScript sets the key to ARGV[2] for ARGV[3] ms if it still holds ARGV[1]:
// a claim is replaced only by whoever read it, never over someone else's.
var swapScript = redis.NewScript(`if redis.call('GET', KEYS[1]) == ARGV[1] then
	return redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3]) end return false`)

// releaseScript deletes the caller's claim and nothing else.
var releaseScript = redis.NewScript(`if redis.call('GET', KEYS[1]) == ARGV[1] then
	return redis.call('DEL', KEYS[1]) end return 0`)

// Claim looks key up and claims it when it is free. Returns EUNAVAILABLE when
// Redis cannot be reached: the caller must refuse the event, not accept it blindly.
func (d *Dedup) Claim(ctx context.Context, key string) (*Claim, error) {
	c := &Claim{d: d, key: dedupPrefix + key}
	for range 3 { // a key that expires between SET NX and GET is claimed again
		c.value = newClaimValue()
		ok, err := d.Redis.SetNX(ctx, c.key, c.value, d.WindowLength()).Result()
		if err != nil {
			return nil, webhooks.Unavailable("Redis", err)
		}
		if ok {
			return c, nil
		}
		v, err := d.Redis.Get(ctx, c.key).Result()
		switch {
		case errors.Is(err, redis.Nil):
			continue
		case err != nil:
			return nil, webhooks.Unavailable("Redis", err)
		case strings.HasPrefix(v, seenValue):
			c.State, c.SeenEventID = Seen, strings.TrimPrefix(v, seenValue)
		default: // a claim; or an older version's "inflight:" value, which expires on its own
			c.State, c.value = InFlight, v
		}
		return c, nil
	}
	c.State, c.value = InFlight, ""
	return c, nil
}

// TakeOver makes an InFlight claim the caller's when it is older than the lease
// (its request died: the caller has checked that the event is not stored) and
// nobody took it over first. False: leave it, the sender retries.
func (c *Claim) TakeOver(ctx context.Context) (bool, error) {
	at, ok := claimedAt(c.value)
	if c.State != InFlight || !ok || time.Since(at) < orDefault(c.d.Lease, DefaultDedupLease) {
		return false, nil
	}
	mine := newClaimValue()
	err := swapScript.Run(ctx, c.d.Redis, []string{c.key}, c.value, mine, c.d.WindowLength().Milliseconds()).Err()
	switch {
	case errors.Is(err, redis.Nil):
		return false, nil
	case err != nil:
		return false, webhooks.Unavailable("Redis", err)
	}
	c.State, c.value = Claimed, mine
	return true, nil
}

// WindowLength is how long a stored event is remembered: Window, or
// DefaultDedupWindow when zero.
func (d *Dedup) WindowLength() time.Duration { return orDefault(d.Window, DefaultDedupWindow) }

// MarkSeen points a Claimed key at eventID, an event stored before under the
// same key (a Cal.com booking sent again after the window), for the window.
func (c *Claim) MarkSeen(ctx context.Context, eventID string) error {
	err := swapScript.Run(context.WithoutCancel(ctx), c.d.Redis, []string{c.key},
		c.value, seenValue+eventID, c.d.WindowLength().Milliseconds()).Err()
	if err != nil && !errors.Is(err, redis.Nil) {
		return webhooks.Unavailable("Redis", err)
	}
	return nil
}

// Release frees a Claimed key at once, so that the sender's retry of an event
// that could not be stored is not made to wait for the lease.
func (c *Claim) Release(ctx context.Context) error {
	if err := releaseScript.Run(context.WithoutCancel(ctx), c.d.Redis, []string{c.key}, c.value).Err(); err != nil {
		return webhooks.Unavailable("Redis", err)
	}
	return nil
}

// newClaimValue is a claim made now by a new owner.
func newClaimValue() string {
	return claimValue + strconv.FormatInt(time.Now().UnixMilli(), 10) + ":" + newToken()
}

// claimedAt is when the claim v was made; false for a value that is no claim
// of this version (an older version's claim expires on its own).
func claimedAt(v string) (time.Time, bool) {
	rest, ok := strings.CutPrefix(v, claimValue)
	if !ok {
		return time.Time{}, false
	}
	ms, _, _ := strings.Cut(rest, ":")
	n, err := strconv.ParseInt(ms, 10, 64)
	return time.UnixMilli(n), err == nil
}

// Key returns the dedup key the claim is on, as stored with the event.
func (c *Claim) Key() string { return strings.TrimPrefix(c.key, dedupPrefix) }

func newToken() string {
	b := make([]byte, 12)
	rand.Read(b)
	return hex.EncodeToString(b)
}
