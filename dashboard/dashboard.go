// Package dashboard holds the web dashboard's static files, embedded in the api
// binary.
package dashboard

import (
	"embed"
	"io/fs"
	"net/http"
)

//go:embed static
var static embed.FS

// Files returns the dashboard's files, rooted at its index.html.
func Files() fs.FS {
	sub, _ := fs.Sub(static, "static")
	return sub
}

// FS returns Files for an HTTP file server.
func FS() http.FileSystem { return http.FS(Files()) }
