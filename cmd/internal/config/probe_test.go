package config

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestProbe_OnLoopbackByPort(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/readyz" {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	port := srv.URL[strings.LastIndex(srv.URL, ":"):]
	if err := Probe(port, "/readyz"); err != nil { // ":port", as HTTP_ADDR often is
		t.Fatalf("a ready server: %v", err)
	}
	if err := Probe("0.0.0.0"+port, "/other"); err == nil || !strings.Contains(err.Error(), "503") {
		t.Fatalf("a 503: %v", err)
	}
	if err := Probe("", "/readyz"); err == nil {
		t.Fatal("no address passed")
	}
}
