package api

import (
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"github.com/gofiber/fiber/v2/middleware/basicauth"
	"github.com/hibiken/asynqmon"
)

// OpsPath is where asynqmon is served, behind basic auth (any user, ADMIN_TOKEN
// as password).
const OpsPath = "/ops/queues"

// mountOps serves asynqmon when ADMIN_TOKEN and a Redis connection are set.
func (s *Server) mountOps() {
	if s.AdminToken == "" || s.OpsRedis == nil {
		return
	}
	mon := asynqmon.New(asynqmon.Options{RootPath: OpsPath, RedisConnOpt: s.OpsRedis})
	s.closers = append(s.closers, mon.Close)
	guard := basicauth.New(basicauth.Config{
		Realm:      "empfio operations",
		Authorizer: func(_, password string) bool { return tokenMatches(password, s.AdminToken) },
	})
	s.App.Use(OpsPath, guard, adaptor.HTTPHandler(mon))
}
