package api

import (
	"slices"
	"strings"
)

// allowed returns the methods the routes of path take, for a 405's Allow header.
func (s *Server) allowed(path string) string {
	var methods []string
	for _, r := range s.App.GetRoutes(true) {
		if r.Method == "HEAD" || r.Method == "USE" || !routeMatches(r.Path, path) || slices.Contains(methods, r.Method) {
			continue
		}
		methods = append(methods, r.Method)
	}
	slices.Sort(methods)
	return strings.Join(methods, ", ")
}

// routeMatches reports whether path fits pattern, whose ":name" segments take
// any one non-empty segment.
func routeMatches(pattern, path string) bool {
	ps, qs := strings.Split(strings.Trim(pattern, "/"), "/"), strings.Split(strings.Trim(path, "/"), "/")
	if len(ps) != len(qs) {
		return false
	}
	for i, p := range ps {
		if strings.HasPrefix(p, ":") {
			if qs[i] == "" {
				return false
			}
		} else if p != qs[i] {
			return false
		}
	}
	return true
}
