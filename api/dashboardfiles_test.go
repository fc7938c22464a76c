package api_test

import (
	"io"
	"io/fs"
	"net/http"
	"strings"
	"testing"

	"github.com/empfio/webhooks/dashboard"
	"github.com/empfio/webhooks/internal/testing/apptest"
)

// The dashboard's files go compressed, each with an ETag, and a reload
// revalidates them: 304 and no body, instead of the whole dashboard again.
func TestDashboard_FilesCompressedAndRevalidated(t *testing.T) {
	a := apptest.Start(t, apptest.Options{})
	client := &http.Client{Transport: &http.Transport{DisableCompression: true}} // see the bytes as sent
	get := func(path, etag string) (*http.Response, []byte) {
		t.Helper()
		req, _ := http.NewRequest("GET", a.URL+"/dashboard/"+path, nil)
		req.Header.Set("Accept-Encoding", "br, gzip")
		if etag != "" {
			req.Header.Set("If-None-Match", etag)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp, body
	}
	var raw, sent, again int
	err := fs.WalkDir(dashboard.Files(), ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		plain, _ := fs.ReadFile(dashboard.Files(), path)
		resp, body := get(path, "")
		etag := resp.Header.Get("ETag")
		if resp.StatusCode != http.StatusOK || etag == "" {
			t.Errorf("%s: %d, ETag %q", path, resp.StatusCode, etag)
			return nil
		}
		if text := strings.HasSuffix(path, ".js") || strings.HasSuffix(path, ".css") || strings.HasSuffix(path, ".html"); text &&
			(resp.Header.Get("Content-Encoding") == "" || len(body) >= len(plain)) {
			t.Errorf("%s: sent %d bytes of %d, Content-Encoding %q", path, len(body), len(plain), resp.Header.Get("Content-Encoding"))
		}
		raw, sent = raw+len(plain), sent+len(body)
		resp, body = get(path, etag)
		if resp.StatusCode != http.StatusNotModified || len(body) != 0 {
			t.Errorf("%s again with its ETag: %d, %d bytes", path, resp.StatusCode, len(body))
		}
		again += len(body)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("first load: %d bytes sent for %d bytes of files; a reload: %d bytes of bodies", sent, raw, again)
	if sent*3 > raw {
		t.Errorf("%d bytes sent for %d: compression should take off two thirds", sent, raw)
	}
}
