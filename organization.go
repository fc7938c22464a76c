package webhooks

import (
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"strings"
	"time"
)

// Organization is a customer of Empfio. Everything else belongs to one.
type Organization struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
}

// MaxNameLength bounds the names of organizations and API keys.
const MaxNameLength = 200

// Validate returns EINVALID when the organization has no name or too long a one.
func (o *Organization) Validate() error {
	if strings.TrimSpace(o.Name) == "" {
		return Invalid(FieldError{"name", "is required"})
	}
	return validateName(o.Name)
}

func validateName(name string) error {
	if len(name) > MaxNameLength {
		return Invalid(FieldError{"name", fmt.Sprintf("must be at most %d characters", MaxNameLength)})
	}
	return nil
}

// APIKey authenticates one organization on the management API. The key itself is
// shown once, at creation; only its SHA-256 is stored, and its prefix is listed.
type APIKey struct {
	ID             string     `json:"id"`
	OrganizationID string     `json:"organization_id"`
	Name           string     `json:"name"`
	Prefix         string     `json:"prefix"`
	CreatedAt      time.Time  `json:"created_at"`
	RevokedAt      *time.Time `json:"revoked_at"`
	Key            string     `json:"key,omitempty"` // set only in the answer that creates it
}

// Validate returns EINVALID when the key's name (optional) is too long.
func (k *APIKey) Validate() error { return validateName(k.Name) }

const (
	apiKeyPrefix    = "emp_"
	apiKeyRandChars = 40 // base62 characters after the prefix: ~238 bits
	apiKeyShown     = 12 // characters of the key kept in clear as its listed prefix
	base62          = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
)

// NewAPIKey returns a fresh key (emp_ + 40 base62 characters), the hash to store
// and the prefix to list.
func NewAPIKey() (key string, hash []byte, prefix string) {
	key = apiKeyPrefix + randomBase62(apiKeyRandChars)
	return key, HashAPIKey(key), key[:apiKeyShown]
}

// randomIndex returns a uniformly random index into base62.
func randomIndex() byte {
	buf := make([]byte, 1)
	for {
		rand.Read(buf)
		if buf[0] < 248 { // 248 = 4*62: reject the rest to keep the choice uniform
			return buf[0] % 62
		}
	}
}

// HashAPIKey returns the SHA-256 under which a key is stored and looked up.
func HashAPIKey(key string) []byte {
	h := sha256.Sum256([]byte(key))
	return h[:]
}

// randomBase62 returns n uniformly random base62 characters.
func randomBase62(n int) string {
	var b strings.Builder
	for b.Len() < n {
		b.WriteByte(base62[randomIndex()])
	}
	return b.String()
}
