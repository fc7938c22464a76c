package api

import (
	webhooks "github.com/empfio/webhooks"
	"github.com/gofiber/fiber/v2"
)

type createOrganizationRequest struct {
	Name string `json:"name"`
}

// createOrganization: POST /organizations (admin) → 201 {organization, api_key}.
func (s *Server) createOrganization(c *fiber.Ctx) error {
	var req createOrganizationRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	org, key, err := s.DB.CreateOrganization(c.UserContext(), req.Name)
	if err != nil {
		return err
	}
	s.audit(c, org.ID, webhooks.AuditOrganizationCreated, "organization", org.ID, fiber.Map{"name": org.Name})
	s.audit(c, org.ID, webhooks.AuditAPIKeyCreated, "api_key", key.ID, fiber.Map{"prefix": key.Prefix, "name": key.Name})
	return c.Status(fiber.StatusCreated).JSON(fiber.Map{"organization": org, "api_key": key})
}

type createAPIKeyRequest struct {
	Name string `json:"name"`
}

// createAPIKey: POST /organizations/{id}/api-keys (admin) → 201, the key shown once.
func (s *Server) createAPIKey(c *fiber.Ctx) error {
	orgID, err := idParam(c, "id", "Organization")
	if err != nil {
		return err
	}
	var req createAPIKeyRequest
	if err := decodeOptionalJSON(c, &req); err != nil {
		return err
	}
	if err := (&webhooks.APIKey{Name: req.Name}).Validate(); err != nil {
		return err
	}
	key, err := s.DB.CreateAPIKey(c.UserContext(), orgID, req.Name)
	if err != nil {
		return err
	}
	s.audit(c, orgID, webhooks.AuditAPIKeyCreated, "api_key", key.ID, fiber.Map{"prefix": key.Prefix, "name": key.Name})
	return c.Status(fiber.StatusCreated).JSON(key)
}

// listAPIKeys: GET /organizations/{id}/api-keys (admin) → the keys by prefix.
func (s *Server) listAPIKeys(c *fiber.Ctx) error {
	orgID, err := idParam(c, "id", "Organization")
	if err != nil {
		return err
	}
	keys, err := s.DB.ListAPIKeys(c.UserContext(), orgID)
	if err != nil {
		return err
	}
	return c.JSON(listOf(keys, nil))
}

// revokeAPIKey: DELETE /organizations/{id}/api-keys/{key_id} (admin) → 204.
func (s *Server) revokeAPIKey(c *fiber.Ctx) error {
	orgID, err := idParam(c, "id", "Organization")
	if err != nil {
		return err
	}
	keyID, err := idParam(c, "key_id", "API key")
	if err != nil {
		return err
	}
	if err := s.DB.RevokeAPIKey(c.UserContext(), orgID, keyID); err != nil {
		return err
	}
	s.audit(c, orgID, webhooks.AuditAPIKeyRevoked, "api_key", keyID, nil)
	return c.SendStatus(fiber.StatusNoContent)
}

// eventTypes: GET /event-types → the catalog (for a dashboard link limited to
// some event types, those).
func (s *Server) eventTypes(c *fiber.Ctx) error {
	p := principalOf(c)
	var list []webhooks.EventType
	for _, t := range webhooks.Catalog {
		if p.AllowsEventType(t.Name) {
			list = append(list, t)
		}
	}
	return c.JSON(listOf(list, nil))
}
