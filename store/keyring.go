package store

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// Keyring encrypts the secrets the store keeps (endpoint signing secrets, Cal.com
// secrets) with AES-256-GCM. Each ciphertext names the key that made it, so keys
// can rotate: new writes use the first key, reads use whichever key a value
// names, and RotateSecrets re-encrypts everything with the first. A value without
// the prefix is plaintext from before encryption was turned on, read as it is and
// encrypted by EncryptSecrets.
type Keyring struct {
	current string
	aeads   map[string]cipher.AEAD
}

// encPrefix starts every encrypted value: enc:v1:<key id>:<base64 nonce‖ciphertext>.
const encPrefix = "enc:v1:"

// ParseKeyring reads SECRET_ENCRYPTION_KEY: comma-separated id:key pairs, each key
// the standard base64 of 32 random bytes; the first pair is the current key.
func ParseKeyring(s string) (*Keyring, error) {
	k := &Keyring{aeads: map[string]cipher.AEAD{}}
	for _, pair := range strings.Split(s, ",") {
		id, b64, ok := strings.Cut(strings.TrimSpace(pair), ":")
		if !ok || id == "" || strings.ContainsAny(id, ": ") {
			return nil, errors.New("want id:base64key pairs, comma-separated")
		}
		raw, err := base64.StdEncoding.DecodeString(b64)
		if err != nil || len(raw) != 32 {
			return nil, fmt.Errorf("key %q must be the base64 of 32 bytes", id)
		}
		block, _ := aes.NewCipher(raw)
		aead, _ := cipher.NewGCM(block)
		if _, dup := k.aeads[id]; dup {
			return nil, fmt.Errorf("key id %q appears twice", id)
		}
		k.aeads[id] = aead
		if k.current == "" {
			k.current = id
		}
	}
	return k, nil
}

// seal encrypts plain with the current key; a nil keyring keeps it plain.
func (k *Keyring) seal(plain string) string {
	if k == nil {
		return plain
	}
	aead := k.aeads[k.current]
	nonce := make([]byte, aead.NonceSize())
	rand.Read(nonce)
	return encPrefix + k.current + ":" + base64.StdEncoding.EncodeToString(aead.Seal(nonce, nonce, []byte(plain), nil))
}

// open decrypts a stored value; plaintext passes through.
func (k *Keyring) open(stored string) (string, error) {
	rest, ok := strings.CutPrefix(stored, encPrefix)
	if !ok {
		return stored, nil
	}
	id, b64, _ := strings.Cut(rest, ":")
	if k == nil {
		return "", errors.New("store: an encrypted secret, and no SECRET_ENCRYPTION_KEY")
	}
	aead, found := k.aeads[id]
	if !found {
		return "", fmt.Errorf("store: a secret encrypted with key %q, which SECRET_ENCRYPTION_KEY lacks", id)
	}
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(raw) < aead.NonceSize() {
		return "", errors.New("store: a damaged encrypted secret")
	}
	plain, err := aead.Open(nil, raw[:aead.NonceSize()], raw[aead.NonceSize():], nil)
	if err != nil {
		return "", errors.New("store: an encrypted secret does not open with its key")
	}
	return string(plain), nil
}
