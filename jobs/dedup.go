package jobs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
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

// Dedup recognises repeats of inbound events across every API process, in two
// steps, so that "duplicate" is only ever said of an event that is stored:
//
//  1. Claim marks the key in flight for Lease (SET NX PX), owned by one request;
//  2. after the event is committed, Claim.Commit marks it seen for Window; if
//     storing fails, Claim.Release frees it at once.
//
// A repeat that finds the key seen is a duplicate. One that finds it in flight
// is not told "duplicate": the caller asks Postgres whether the event is stored
// (a duplicate if so), else answers 409 and the sender retries. If the owner dies
// between the two steps the key expires with its lease and the next retry claims
// it. If Redis loses its keys, a repeat is accepted again: at worst a second
// copy, never a lost event.
type Dedup struct {
	Redis  redis.UniversalClient
	Window time.Duration
	Lease  time.Duration
}

const dedupPrefix = "empfio:dedup:"

// Values of a dedup key.
const (
	inFlightValue = "inflight:" // + the owner's token
	seenValue     = "seen:"     // + the id of the stored event
)

// ClaimState is what Claim found.
type ClaimState int

const (
	// Claimed: the key is the caller's; store the event, then Commit or Release.
	Claimed ClaimState = iota
	// Seen: the event is stored and within the window; SeenEventID names it.
	Seen
	// InFlight: another request is storing the event right now, or died doing so.
	InFlight
)

// Claim is a claim on a dedup key.
type Claim struct {
	State       ClaimState
	SeenEventID string // with Seen
	d           *Dedup
	key, token  string
}

// commitScript turns the caller's in-flight claim into seen; a claim taken over
// by another request (its lease ended) is left to that request.
var commitScript = redis.NewScript(`if redis.call('GET', KEYS[1]) == ARGV[1] then
	return redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3]) end return false`)

// releaseScript deletes the caller's claim and nothing else.
var releaseScript = redis.NewScript(`if redis.call('GET', KEYS[1]) == ARGV[1] then
	return redis.call('DEL', KEYS[1]) end return 0`)

// Claim looks key up and claims it when it is free. Returns EUNAVAILABLE when
// Redis cannot be reached: the caller must refuse the event, not accept it blindly.
func (d *Dedup) Claim(ctx context.Context, key string) (*Claim, error) {
	c := &Claim{d: d, key: dedupPrefix + key, token: newToken()}
	lease := orDefault(d.Lease, DefaultDedupLease)
	for range 3 { // a key that expires between SET NX and GET is claimed again
		ok, err := d.Redis.SetNX(ctx, c.key, inFlightValue+c.token, lease).Result()
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
		default:
			c.State = InFlight
		}
		return c, nil
	}
	c.State = InFlight
	return c, nil
}

// WindowLength is how long a stored event is remembered: Window, or
// DefaultDedupWindow when zero.
func (d *Dedup) WindowLength() time.Duration { return orDefault(d.Window, DefaultDedupWindow) }

// Commit marks a Claimed key seen for the dedup window: eventID is stored.
func (c *Claim) Commit(ctx context.Context, eventID string) error {
	window := c.d.WindowLength()
	err := commitScript.Run(context.WithoutCancel(ctx), c.d.Redis, []string{c.key},
		inFlightValue+c.token, seenValue+eventID, window.Milliseconds()).Err()
	if err != nil && !errors.Is(err, redis.Nil) {
		return webhooks.Unavailable("Redis", err)
	}
	return nil
}

// Release frees a Claimed key at once, so that the sender's retry of an event
// that could not be stored is not made to wait for the lease.
func (c *Claim) Release(ctx context.Context) error {
	if err := releaseScript.Run(context.WithoutCancel(ctx), c.d.Redis, []string{c.key}, inFlightValue+c.token).Err(); err != nil {
		return webhooks.Unavailable("Redis", err)
	}
	return nil
}

// Key returns the dedup key the claim is on, as stored with the event.
func (c *Claim) Key() string { return strings.TrimPrefix(c.key, dedupPrefix) }

func newToken() string {
	b := make([]byte, 12)
	rand.Read(b)
	return hex.EncodeToString(b)
}
