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
	pg, rd := s.checkDependencies(c.UserContext())
	checks := fiber.Map{"postgres": "ok", "redis": "ok"}
	if !pg {
		checks["postgres"] = "unreachable"
	}
	if !rd {
		checks["redis"] = "unreachable"
	}
	if !pg || !rd {
		c.Set(fiber.HeaderRetryAfter, retryAfterUnavailable)
		return c.Status(fiber.StatusServiceUnavailable).JSON(fiber.Map{"status": "unavailable", "checks": checks})
	}
	return c.JSON(fiber.Map{"status": "ok", "checks": checks})
}

// checkDependencies reports whether Postgres and Redis each answer within
// readyTimeout.
func (s *Server) checkDependencies(ctx context.Context) (postgres, redis bool) {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	pg, rd := make(chan error, 1), make(chan error, 1)
	go func() { pg <- s.DB.Ping(ctx) }()
	go func() { rd <- s.Redis.Ping(ctx).Err() }()
	// Waited for here, not only through ctx: a pipelined Redis client does not
	// cut a queued command short when its context ends (jobs.Pipelined).
	answered := func(check chan error) bool {
		select { // an answer that came in time counts, even once the other's wait ran out
		case err := <-check:
			return err == nil
		default:
		}
		select {
		case err := <-check:
			return err == nil
		case <-ctx.Done():
			return false
		}
	}
	return answered(pg), answered(rd)
}
