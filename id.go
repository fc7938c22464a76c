package webhooks

import (
	"time"

	"github.com/google/uuid"
)

// CanonicalID parses s as a UUID in any of the spellings people send (upper case,
// without hyphens, in braces, as a urn:uuid:) and returns its one canonical form,
// lower case with hyphens. Every id is used in that form only — in dedup keys,
// storage and envelopes — so one id cannot pass for two.
func CanonicalID(s string) (string, bool) {
	id, err := uuid.Parse(s)
	if err != nil {
		return "", false
	}
	return id.String(), true
}

// NewEventID returns a fresh event id, a UUIDv7, and the time it carries
// (milliseconds, UTC): the event's received time. An event, its deliveries
// (whose ids the store makes with the same time) and their attempts are stored
// in the partition of that day, which IDTime finds from an id alone.
//
// The ids one process makes increase (uuid.NewV7 keeps a sub-millisecond
// fraction and never goes back), and the time is read from the id itself, so
// the order of (received time, id) is the order the events were accepted in,
// within a millisecond too: ordered delivery relies on it.
func NewEventID() (string, time.Time) {
	id := uuid.Must(uuid.NewV7()).String()
	t, _ := IDTime(id)
	return id, t
}

// EventIDAt is NewEventID for an event received at t (imports, tests).
func EventIDAt(t time.Time) (string, time.Time) {
	id := uuid.Must(uuid.NewV7()) // its version, variant and random bits
	ms := t.UnixMilli()
	for i := range 6 {
		id[i] = byte(ms >> (40 - 8*i))
	}
	return id.String(), time.UnixMilli(ms).UTC()
}

// IDTime returns the time a UUIDv7 id carries, to the millisecond; false for
// any other id (the random ids of rows made before round 3).
func IDTime(id string) (time.Time, bool) {
	u, err := uuid.Parse(id)
	if err != nil || u.Version() != 7 {
		return time.Time{}, false
	}
	ms := int64(u[0])<<40 | int64(u[1])<<32 | int64(u[2])<<24 | int64(u[3])<<16 | int64(u[4])<<8 | int64(u[5])
	return time.UnixMilli(ms).UTC(), true
}
