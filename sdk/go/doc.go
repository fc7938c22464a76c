// Package empfio is a Go client of the Empfio Webhooks API, generated from its
// OpenAPI document (api/openapi.json) by oapi-codegen, pinned in
// scripts/sdk.sh: `make sdk` regenerates it, and make lint fails when it is
// not what the document makes.
//
//	c, err := empfio.NewClientWithResponses("https://webhooks.example.com", empfio.WithBearer(apiKey))
//	created, err := c.CreateWebhookWithResponse(ctx, empfio.CreateWebhookRequest{
//		Url: "https://example.com/hooks", Events: []string{"lead.created"}})
//	// created.JSON201.Secret verifies what it receives
//
// Every operation has a method of that name (…WithResponse decodes the
// answer: JSON200, JSON201, … for success, ApplicationproblemJSON4XX for a
// problem+json error).
package empfio

import (
	"context"
	"net/http"
)

// WithBearer authenticates every request with token: an organization's API
// key, or INTERNAL_AUTH_TOKEN for the internal routes.
func WithBearer(token string) ClientOption {
	return WithRequestEditorFn(func(_ context.Context, req *http.Request) error {
		req.Header.Set("Authorization", "Bearer "+token)
		return nil
	})
}
