package api

import (
	"errors"
	"net/http"
	"strconv"

	webhooks "github.com/empfio/webhooks"
	"github.com/gofiber/fiber/v2"
)

// statusOf maps application error codes to HTTP statuses: the one place that does.
var statusOf = map[string]int{
	webhooks.EBADREQUEST:   http.StatusBadRequest,
	webhooks.EUNAUTHORIZED: http.StatusUnauthorized,
	webhooks.EFORBIDDEN:    http.StatusForbidden,
	webhooks.ENOTFOUND:     http.StatusNotFound,
	webhooks.EMETHOD:       http.StatusMethodNotAllowed,
	webhooks.ETIMEOUT:      http.StatusRequestTimeout,
	webhooks.ECONFLICT:     http.StatusConflict,
	webhooks.ETOOLARGE:     http.StatusRequestEntityTooLarge,
	webhooks.EHEADERS:      http.StatusRequestHeaderFieldsTooLarge,
	webhooks.EUNSUPPORTED:  http.StatusUnsupportedMediaType,
	webhooks.EINVALID:      http.StatusUnprocessableEntity,
	webhooks.ERATELIMITED:  http.StatusTooManyRequests,
	webhooks.EINTERNAL:     http.StatusInternalServerError,
	webhooks.EUNAVAILABLE:  http.StatusServiceUnavailable,
}

// Problem is an RFC 9457 problem details body.
type Problem struct {
	Type   string                `json:"type"`
	Title  string                `json:"title"`
	Status int                   `json:"status"`
	Detail string                `json:"detail"`
	Errors []webhooks.FieldError `json:"errors,omitempty"`
}

// retryAfterUnavailable is the Retry-After of a 503: long enough for a restarted
// Postgres or Redis, short enough not to stall senders.
const retryAfterUnavailable = "5"

// errorHandler writes every error as application/problem+json. Errors that are
// not application errors are logged and answered "Internal error.": no internal
// detail reaches the client.
func (s *Server) errorHandler(c *fiber.Ctx, err error) error {
	var fe *fiber.Error
	if errors.As(err, &fe) {
		err = fromFiber(fe)
	}
	code := webhooks.ErrorCode(err)
	status := statusOf[code]
	switch {
	case code == webhooks.EINTERNAL:
		s.log.ErrorContext(c.UserContext(), "internal error", "method", c.Method(), "path", s.loggedPath(c), "error", err)
	case code == webhooks.EUNAVAILABLE:
		s.log.WarnContext(c.UserContext(), "dependency unavailable", "method", c.Method(), "path", s.loggedPath(c), "error", err)
		c.Set(fiber.HeaderRetryAfter, retryAfterUnavailable)
	case code == webhooks.EMETHOD:
		allow, _ := c.Locals(localAllow).(string) // a route that knows (postOnly)
		if allow == "" {
			allow = s.allowed(c.Path())
		}
		c.Set(fiber.HeaderAllow, allow)
	}
	c.Set(fiber.HeaderContentType, "application/problem+json")
	return c.Status(status).JSON(Problem{
		Type:   "https://docs.empfio.com/webhooks/problems/" + code,
		Title:  http.StatusText(status),
		Status: status,
		Detail: webhooks.ErrorMessage(err),
		Errors: webhooks.ErrorFields(err),
	}, "application/problem+json")
}

// fromFiber turns fiber's own errors (no route, body too large, …) into
// application errors.
func fromFiber(fe *fiber.Error) error {
	switch fe.Code {
	case fiber.StatusNotFound:
		return webhooks.Errorf(webhooks.ENOTFOUND, "No such route.")
	case fiber.StatusMethodNotAllowed:
		return webhooks.Errorf(webhooks.EMETHOD, "This route does not take this method; see the Allow header.")
	case fiber.StatusRequestTimeout:
		// Also what fasthttp answers on a connection that sent nothing within
		// the read timeout; HTTP clients know to close on a 408.
		return webhooks.Errorf(webhooks.ETIMEOUT, "The request did not arrive in time.")
	case fiber.StatusRequestHeaderFieldsTooLarge:
		return webhooks.Errorf(webhooks.EHEADERS, "The request's headers are too large.")
	case fiber.StatusRequestEntityTooLarge:
		return webhooks.Errorf(webhooks.ETOOLARGE, "The request body is too large.")
	case fiber.StatusBadRequest:
		return webhooks.Errorf(webhooks.EBADREQUEST, "The request is malformed.")
	case fiber.StatusTooManyRequests:
		return webhooks.Errorf(webhooks.ERATELIMITED, "Too many requests; retry later.")
	case fiber.StatusServiceUnavailable:
		return webhooks.Errorf(webhooks.EUNAVAILABLE, "The service is unavailable; retry later.")
	}
	if fe.Code >= 500 {
		return fe
	}
	return webhooks.Errorf(webhooks.EBADREQUEST, "%s", fe.Message)
}

// rateLimited answers 429 with Retry-After in whole seconds (at least 1).
func rateLimited(c *fiber.Ctx, err error, after float64) error {
	secs := int(after + 0.999)
	if secs < 1 {
		secs = 1
	}
	c.Set(fiber.HeaderRetryAfter, strconv.Itoa(secs))
	return err
}
