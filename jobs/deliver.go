package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	webhooks "github.com/empfio/webhooks"
	"github.com/empfio/webhooks/store"
	"github.com/hibiken/asynq"
)

// Deliverer is the asynq handler of TypeDeliver tasks.
//
// Guarantees: delivery is at-least-once — a task may run twice (a worker killed
// after the POST, before recording it), so receivers drop repeats by
// X-Empfio-Delivery. Every attempt sends the envelope stored with the event, byte
// for byte. Each attempt is recorded, and moves the delivery to:
//   - succeeded on any 2xx;
//   - failed on 410 Gone, which also disables the endpoint;
//   - retrying, with next_attempt_at, while the endpoint's retry schedule has
//     retries left (a manual retry or replay has none: one attempt);
//   - failed otherwise, with one structured log line.
//
// Final outcomes return nil, so the task leaves Redis; Postgres keeps the record.
type Deliverer struct {
	DB       *store.DB
	Sender   *Sender
	Schedule webhooks.RetrySchedule // the default; an endpoint's retry_policy overrides it
	Health   store.Health
	Log      *slog.Logger
}

// ProcessTask attempts one delivery. See Deliverer for what each outcome does.
func (d *Deliverer) ProcessTask(ctx context.Context, t *asynq.Task) error {
	var p payload
	if err := json.Unmarshal(t.Payload(), &p); err != nil {
		return fmt.Errorf("bad task payload: %v: %w", err, asynq.SkipRetry)
	}
	job, err := d.DB.Job(ctx, p.DeliveryID)
	if webhooks.ErrorCode(err) == webhooks.ENOTFOUND {
		return nil // its endpoint was deleted, and the delivery with it
	} else if err != nil {
		return err
	}
	if webhooks.IsFinalStatus(job.Delivery.Status) {
		return nil // a repeated task of a delivery already done
	}
	if !job.Endpoint.Enabled {
		return d.DB.FailDelivery(ctx, job.Delivery.ID, "endpoint is disabled")
	}

	res := d.Sender.Send(ctx, Message{
		ID:        job.Delivery.ID,
		EventType: job.Delivery.EventType,
		URL:       job.Endpoint.URL,
		Secrets:   job.Endpoint.SigningSecrets(time.Now()),
		Body:      job.Envelope,
	})
	rec, delay := d.decide(job, res)
	number, disabled, err := d.DB.RecordAttempt(ctx, rec, d.Health)
	if err != nil {
		return err // asynq retries the task: the attempt is made again (at-least-once)
	}
	observeAttempt(rec.Status, res)
	d.logAttempt(job, res, rec, number, disabled)
	if rec.Status == webhooks.StatusRetrying {
		return &retryError{delay: delay, reason: *rec.LastError}
	}
	return nil
}

// decide turns an attempt's result into the delivery's next state.
func (d *Deliverer) decide(job *store.Job, res Result) (store.AttemptRecord, time.Duration) {
	errText := res.ErrorText()
	rec := store.AttemptRecord{
		DeliveryID: job.Delivery.ID,
		Attempt: webhooks.Attempt{
			StartedAt:    res.StartedAt,
			DurationMS:   int(res.Duration / time.Millisecond),
			ResponseBody: BodyText(res.Body),
			Error:        errText,
		},
		LastError: errText,
	}
	if res.StatusCode != 0 {
		code := res.StatusCode
		rec.Attempt.StatusCode = &code
	}
	schedule := d.Schedule.For(&job.Endpoint)
	retry := job.Delivery.Attempts + 1 // the retry that would follow this attempt
	switch {
	case res.OK():
		rec.Status = webhooks.StatusSucceeded
	case res.StatusCode == http.StatusGone:
		rec.Status = webhooks.StatusFailed
		rec.DisableReason = "the endpoint answered 410 Gone"
	case job.Manual || retry > schedule.MaxRetries:
		rec.Status = webhooks.StatusFailed
	default:
		delay := schedule.Delay(retry)
		if res.RetryAfter > delay {
			delay = min(res.RetryAfter, schedule.Window)
		}
		next := time.Now().Add(delay)
		rec.Status, rec.NextAttemptAt = webhooks.StatusRetrying, &next
		return rec, delay
	}
	return rec, 0
}

func (d *Deliverer) logAttempt(job *store.Job, res Result, rec store.AttemptRecord, number int, disabled bool) {
	attrs := []any{
		"delivery_id", job.Delivery.ID, "endpoint_id", job.Endpoint.ID, "event_id", job.Delivery.EventID,
		"event_type", job.Delivery.EventType, "attempt", number, "status_code", res.StatusCode,
		"duration_ms", rec.Attempt.DurationMS, "outcome", rec.Status,
	}
	if rec.LastError != nil {
		attrs = append(attrs, "error", *rec.LastError)
	}
	switch {
	case rec.Status == webhooks.StatusFailed:
		d.Log.Warn("delivery failed", attrs...)
	case rec.Status == webhooks.StatusRetrying:
		d.Log.Info("delivery attempt failed; will retry", append(attrs, "next_attempt_at", rec.NextAttemptAt)...)
	default:
		d.Log.Debug("delivery succeeded", attrs...)
	}
	if disabled {
		d.Log.Warn("endpoint disabled", "endpoint_id", job.Endpoint.ID, "organization_id", job.Delivery.OrganizationID)
	}
}

// retryError asks asynq to retry the task after delay (see retryDelay).
type retryError struct {
	delay  time.Duration
	reason string
}

func (e *retryError) Error() string { return "delivery attempt failed: " + e.reason }

// Backoff of tasks that failed before reaching a delivery decision (Postgres
// unreachable, a worker crashed mid-task): infraRetryBase doubling per retry, at
// most infraRetryMax.
const (
	infraRetryBase = 5 * time.Second
	infraRetryMax  = 10 * time.Minute
)

// retryDelay is the asynq RetryDelayFunc: the delay the handler chose from the
// delivery's schedule, or the infrastructure backoff for any other error.
func retryDelay(n int, err error, _ *asynq.Task) time.Duration {
	var re *retryError
	if errors.As(err, &re) {
		return re.delay
	}
	if n > 10 {
		return infraRetryMax
	}
	return min(infraRetryBase<<n, infraRetryMax)
}
