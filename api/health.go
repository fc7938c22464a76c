package api

import (
	"context"
	"time"

	"github.com/gofiber/fiber/v2"
)

// readyTimeout bounds each dependency check of /readyz.
const readyTimeout = time.Second

// healthz answers 200 while the process runs.
func (s *Server) healthz(c *fiber.Ctx) error {
	return c.JSON(fiber.Map{"status": "ok"})
}

// readyz answers 200 when Postgres and Redis both answer within a second, else
// 503 naming each one that did not.
func (s *Server) readyz(c *fiber.Ctx) error {
	ctx, cancel := context.WithTimeout(c.UserContext(), readyTimeout)
	defer cancel()
	pg, rd := make(chan error, 1), make(chan error, 1)
	go func() { pg <- s.DB.Ping(ctx) }()
	go func() { rd <- s.Redis.Ping(ctx).Err() }()
	// Waited for here, not only through ctx: a pipelined Redis client does not
	// cut a queued command short when its context ends (jobs.Pipelined).
	answered := func(check chan error) bool {
		select {
		case err := <-check:
			return err == nil
		case <-ctx.Done():
			return false
		}
	}
	checks := fiber.Map{"postgres": "ok", "redis": "ok"}
	ready := true
	if !answered(pg) {
		checks["postgres"], ready = "unreachable", false
	}
	if !answered(rd) {
		checks["redis"], ready = "unreachable", false
	}
	if !ready {
		c.Set(fiber.HeaderRetryAfter, retryAfterUnavailable)
		return c.Status(fiber.StatusServiceUnavailable).JSON(fiber.Map{"status": "unavailable", "checks": checks})
	}
	return c.JSON(fiber.Map{"status": "ok", "checks": checks})
}
