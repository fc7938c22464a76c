package api

import (
	"embed"
	"io/fs"
	"net/http"
	"strings"

	"github.com/gofiber/fiber/v2/middleware/compress"
	swaggerui "github.com/swaggo/files/v2"
)

//go:embed reference
var referenceFiles embed.FS

// referenceRenderer are the renderer's files the reference page uses, of the
// Swagger UI distribution the Go module github.com/swaggo/files/v2 embeds
// (pinned in go.mod, checked by go.sum): vendored at build time, served from
// this origin, so the page works offline and behind a strict policy.
var referenceRenderer = []string{"swagger-ui-bundle.js", "swagger-ui.css"}

// mountReference serves the API reference at /docs/: the OpenAPI document
// (OpenAPIPath) rendered in the browser. Like the dashboard it runs no inline
// script and talks to this origin only; Swagger UI styles its elements inline,
// which style-src allows. Its files are compressed at the fastest level: the
// renderer's bundle is 1.4 MB, which the best level (the dashboard's) took
// seconds to compress on every request.
func (s *Server) mountReference() {
	csp := strings.Join([]string{
		"default-src 'none'", "script-src 'self'", "style-src 'self' 'unsafe-inline'", "img-src 'self' data:",
		"connect-src 'self'", "base-uri 'none'", "form-action 'none'", "frame-ancestors 'none'",
	}, "; ")
	s.mountPage("/docs", csp, compress.LevelBestSpeed, http.FS(referenceFS()))
}

// referenceFS is the page's own files and the renderer's, side by side.
func referenceFS() fs.FS {
	own, _ := fs.Sub(referenceFiles, "reference")
	return layered{own: own, renderer: swaggerui.FS}
}

// layered serves own's files, and of the renderer's only referenceRenderer.
type layered struct{ own, renderer fs.FS }

func (l layered) Open(name string) (fs.File, error) {
	for _, r := range referenceRenderer {
		if name == r {
			return l.renderer.Open(name)
		}
	}
	return l.own.Open(name)
}
