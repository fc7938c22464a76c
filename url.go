package webhooks

import (
	"errors"
	"fmt"
	"net/url"
)

// CheckURLSyntax validates a URL without touching the network: absolute, https
// (unless insecure is allowed), a host, no credentials, at most MaxURLLength.
func CheckURLSyntax(raw string, requireHTTPS bool) error {
	if raw == "" {
		return errors.New("is required")
	}
	if len(raw) > MaxURLLength {
		return fmt.Errorf("must be at most %d characters", MaxURLLength)
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.Hostname() == "" {
		return errors.New("must be an absolute URL such as https://example.com/hooks")
	}
	switch {
	case u.User != nil:
		return errors.New("must not contain credentials")
	case u.Scheme == "https":
	case u.Scheme == "http" && !requireHTTPS:
	case u.Scheme == "http":
		return errors.New("must use https://")
	default:
		return errors.New("must be an http(s) URL")
	}
	if u.Fragment != "" {
		return errors.New("must not contain a fragment")
	}
	return nil
}
