package webhooks

import "strings"

// A listen session is how `empfio listen` receives webhooks on a machine that
// cannot take inbound connections: a temporary endpoint whose URL is
// ListenScheme + its own id. Its deliveries are not POSTed anywhere: the worker
// hands each, signed as it would be sent, to the session's stream in Redis, and
// the CLI pulls them from the api (server-sent events) and forwards them to a
// local URL. A user cannot register such a URL (CheckURLSyntax takes http and
// https only).
const ListenScheme = "empfio-listen://"

// ListenURL is the URL of the listen session's endpoint id.
func ListenURL(endpointID string) string { return ListenScheme + endpointID }

// ListenSession returns the endpoint id of a listen session's URL.
func ListenSession(url string) (string, bool) {
	return strings.CutPrefix(url, ListenScheme)
}

// ListenDescription is the description of a listen session's endpoint.
const ListenDescription = "empfio listen (temporary)"
