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

// FS returns the dashboard's files, rooted at its index.html.
func FS() http.FileSystem {
	sub, _ := fs.Sub(static, "static")
	return http.FS(sub)
}
