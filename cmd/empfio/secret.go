package main

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	webhooks "github.com/empfio/webhooks"
)

// The listen secret signs what every listen session of one API key on one
// machine receives: it is kept in the user's configuration directory, so that
// a local server configured with it (`empfio listen --print-secret`) keeps
// verifying across sessions. The api accepts it when the session is created.

// secretPath is where c's listen secret is kept: a file named for a hash of
// the api's URL and the key (the key itself is not written anywhere).
func secretPath(c *client) (string, error) {
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256([]byte(c.base + "\n" + c.key))
	return filepath.Join(dir, "empfio", "listen", hex.EncodeToString(sum[:16])), nil
}

// listenSecret returns c's listen secret, made and kept on first use. Two
// CLIs starting at once keep the same one: the first to link its file in
// place wins, and the other reads it.
func listenSecret(c *client) (string, error) {
	path, err := secretPath(c)
	if err != nil {
		return "", err
	}
	for range 2 {
		s, err := os.ReadFile(path)
		if err == nil && webhooks.CheckSecret(strings.TrimSpace(string(s))) == nil {
			return strings.TrimSpace(string(s)), nil
		} else if err == nil {
			return "", errors.New(path + " does not hold a secret (delete it for a new one)")
		} else if !errors.Is(err, fs.ErrNotExist) {
			return "", err
		}
		if err := keepNewSecret(path); err != nil && !errors.Is(err, fs.ErrExist) {
			return "", err
		}
	}
	return "", errors.New("the listen secret could not be kept in " + path)
}

// keepNewSecret writes a new secret to path, readable by its owner only,
// unless path exists (fs.ErrExist).
func keepNewSecret(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".new-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.WriteString(webhooks.NewSecret() + "\n"); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Link(tmp.Name(), path) // fails when path exists: a secret is never replaced
}
