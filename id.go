package webhooks

import "github.com/google/uuid"

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
