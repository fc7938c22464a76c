package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
)

// client calls the api with the organization's API key.
type client struct {
	base string
	key  string
	http *http.Client
}

func clientFromEnv() (*client, error) {
	key := os.Getenv("EMPFIO_API_KEY")
	if key == "" {
		return nil, errors.New("EMPFIO_API_KEY is not set: an API key of your organization")
	}
	base := strings.TrimRight(os.Getenv("EMPFIO_API_URL"), "/")
	if base == "" {
		base = "http://127.0.0.1:8080"
	}
	return &client{base: base, key: key, http: &http.Client{}}, nil
}

// call sends method path with body (nil: none) and decodes a 2xx answer into
// out (nil: ignored); any other answer is an error with the problem's detail.
func (c *client) call(ctx context.Context, method, path string, body, out any) error {
	resp, err := c.do(ctx, method, path, body, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return problem(resp)
	}
	if out == nil {
		return nil
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

func (c *client) do(ctx context.Context, method, path string, body any, header http.Header) (*http.Response, error) {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, r)
	if err != nil {
		return nil, err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	req.Header.Set("Authorization", "Bearer "+c.key)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return c.http.Do(req)
}

// problem turns a problem+json answer into an error, with each field error.
func problem(resp *http.Response) error {
	var p struct {
		Title, Detail string
		Errors        []struct{ Field, Message string }
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if json.Unmarshal(b, &p) != nil || p.Detail == "" && p.Title == "" {
		return fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(b)))
	}
	msg := fmt.Sprintf("%s: %s %s", resp.Status, p.Title, p.Detail)
	for _, e := range p.Errors {
		msg += fmt.Sprintf("\n  %s: %s", e.Field, e.Message)
	}
	return errors.New(msg)
}
