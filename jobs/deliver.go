package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	webhooks "github.com/empfio/webhooks"
	"github.com/empfio/webhooks/outbound"
	"github.com/empfio/webhooks/store"
	"github.com/empfio/webhooks/telemetry"
	"github.com/hibiken/asynq"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// Deliverer is the asynq handler of TypeDeliver, TypeDeliverBatch and
// TypeCircuit tasks.
//
// Guarantees: delivery is at-least-once — a task may run twice (a worker killed
// after the POST, before recording it), so receivers drop repeats by
// X-Empfio-Delivery. An attempt is made only by the task that takes its
// delivery (store.Take: open, due, and leased by no one else), so however many
// tasks name a delivery, one attempt goes at a time, and none after the
// delivery ends or its endpoint is deleted. Every attempt sends the envelope
// stored with the event, byte for byte. Each attempt is recorded, and moves the
// delivery as webhooks.Decide says (succeeded, retrying with next_attempt_at,
// or failed with one structured log line); an endpoint is disabled on 410 Gone.
// An ordered delivery (Endpoint.Ordered) is taken only when no open delivery of
// its endpoint and ordering key comes before it, and the one after it gets its
// task when it ends (nextOfKey): one at a time per key, in acceptance order.
//
// The circuit breaker (webhooks.Breaker) decides what each attempt's outcome
// does to the endpoint's circuit; a delivery to an endpoint whose circuit is
// not closed is held (no attempt) unless it is the probe. A manual retry or
// replay is sent whatever the circuit. See circuit.go for the circuit's timers.
//
// Final outcomes return nil, so the task leaves Redis; Postgres keeps the record.
// Whatever the receiver answered is recorded once: when recording fails, it is
// tried again (recordTries, the last time without the receiver's body) before
// the task fails, is logged, and goes back to asynq's bounded retries — after
// which the sweeper marks the delivery failed.
type Deliverer struct {
	DB       *store.DB
	Sender   *outbound.Sender
	Schedule webhooks.RetrySchedule // the default; an endpoint's retry_policy overrides it
	// Circuits applies the breaker to the outcomes; its Breaker zero: no
	// circuit breaker.
	Circuits *Circuits
	// Publisher publishes the operational events (delivery.failed,
	// webhook.disabled, webhook.circuit_opened, webhook.circuit_closed); nil
	// publishes none.
	Publisher *Publisher
	// Throttle caps each endpoint's deliveries in flight and its rate; nil: none.
	Throttle *Throttle
	// Redis counts the tries of tasks that fail before a delivery decision,
	// and carries listen sessions' deliveries; nil: asynq's retry count counts
	// the tries, and no listen session is reachable.
	Redis redis.UniversalClient
	// Queue gives deliveries and circuits their tasks.
	Queue *Queue
	// InFlight bounds the requests this worker sends at once
	// (WORKER_CONCURRENCY), a batch's deliveries included; 0: no bound.
	InFlight int
	Log      *slog.Logger

	inFlightOnce sync.Once
	inFlight     chan struct{}
	placeWait    time.Duration // placeWaitMax when zero (tests shorten it)
}

// enter takes one of the worker's InFlight places for an attempt, and returns
// the func that gives it back. A delivery that waits longer than
// placeWaitMax for a place, or past its task's deadline, is put back without
// an attempt: its task's deadline leaves an attempt's timeout and
// taskTimeoutMargin, so an attempt begun later (a batch's delivery behind slow
// receivers) would be cut short and recorded as the receiver's failure.
func (d *Deliverer) enter(ctx context.Context) (leave func(), err error) {
	if d.InFlight <= 0 {
		return func() {}, nil
	}
	d.inFlightOnce.Do(func() { d.inFlight = make(chan struct{}, d.InFlight) })
	leave = func() { <-d.inFlight }
	select {
	case d.inFlight <- struct{}{}:
		return leave, nil
	default:
	}
	wait := time.NewTimer(orDefault(d.placeWait, placeWaitMax))
	defer wait.Stop()
	select {
	case d.inFlight <- struct{}{}:
		return leave, nil
	case <-wait.C:
	case <-ctx.Done():
	}
	return nil, workerBusy()
}

// placeWaitMax is how long a delivery may wait for a place in its worker: two
// thirds of taskTimeoutMargin, the rest left for loading and signing.
const placeWaitMax = 10 * time.Second

// workerBusy puts a delivery back for its worker's sake.
func workerBusy() error {
	throttledTotal.WithLabelValues("worker_busy").Inc()
	return &throttledError{delay: throttleRetry}
}

// ProcessTask attempts one delivery. See Deliverer for what each outcome does.
func (d *Deliverer) ProcessTask(ctx context.Context, t *asynq.Task) (err error) {
	p, err := decodePayload(t.Payload())
	if err != nil {
		return fmt.Errorf("bad task payload: %v: %w", err, asynq.SkipRetry)
	}
	return d.attempt(ctx, p)
}

// attempt makes the attempt of p's delivery, if it takes it.
func (d *Deliverer) attempt(ctx context.Context, p *payload) (err error) {
	ctx, span := telemetry.Tracer.Start(telemetry.Extract(ctx, p.Trace), "deliver", trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(attribute.String("empfio.delivery_id", p.DeliveryID)))
	defer func() {
		var re *retryError
		if err != nil && !errors.As(err, &re) {
			span.SetStatus(codes.Error, err.Error())
		}
		span.End()
	}()
	if p.CreatedAt.IsZero() { // a task made before round 3
		if p.CreatedAt, err = d.DB.Locate(ctx, p.DeliveryID); webhooks.ErrorCode(err) == webhooks.ENOTFOUND {
			return nil
		} else if err != nil {
			return d.infra(ctx, p.DeliveryID, err)
		}
	}
	taken, err := d.DB.Take(ctx, p.DeliveryID, p.CreatedAt, d.Queue.Lease(), p.Envelope == nil)
	if err != nil {
		return d.infra(ctx, p.DeliveryID, err)
	}
	if taken == nil {
		return nil // final, held, not due, being attempted elsewhere, or gone: not this task's
	}
	job := &taken.Job
	if p.Envelope != nil {
		job.Envelope = p.Envelope
	}
	e := &job.Endpoint
	switch {
	case e.DeletedAt != nil:
		return d.end(ctx, taken, webhooks.StatusFailed, "the webhook was deleted")
	case !e.Enabled:
		return d.end(ctx, taken, webhooks.StatusFailed, "endpoint is disabled")
	case e.Circuit.State != webhooks.CircuitClosed && !job.Manual && !e.IsListenSession():
		step, err := d.Circuits.Apply(ctx, e, func(c webhooks.Circuit) webhooks.Step { return d.Circuits.Breaker.Gate(c, job.Delivery.ID, time.Now()) })
		switch {
		case err != nil:
			return d.putBack(ctx, taken, d.infra(ctx, job.Delivery.ID, err))
		case step.Hold:
			heldTotal.Inc()
			d.Log.Debug("delivery held: the endpoint's circuit is open", jobAttrs(job)...)
			return d.end(ctx, taken, webhooks.StatusHeld, "")
		}
		job.Probe = step.Probe
	}
	leave, err := d.enter(ctx)
	if err != nil {
		return d.putBack(ctx, taken, err)
	}
	release := func() {}
	if d.Throttle != nil {
		var back *throttledError
		release, back, err = d.Throttle.Acquire(ctx, e)
		if err != nil {
			leave()
			return d.putBack(ctx, taken, d.infra(ctx, job.Delivery.ID, err))
		}
		if back != nil {
			leave()
			return d.putBack(ctx, taken, back)
		}
	}
	res := d.send(ctx, job)
	// The slots are the receiver's and the worker's: they are free once the
	// answer is in, before the attempt is recorded.
	release()
	leave()
	rec, delay := webhooks.Decide(job, res, d.Schedule, time.Now())
	if span.IsRecording() { // nothing to build when tracing is off
		span.SetName("deliver " + job.Delivery.EventType)
		span.SetAttributes(attribute.String("empfio.endpoint_id", e.ID), attribute.String("empfio.event_id", job.Delivery.EventID),
			attribute.Int("http.response.status_code", res.StatusCode), attribute.String("empfio.outcome", rec.Status),
			attribute.Bool("empfio.probe", job.Probe))
	}
	number, err := d.record(ctx, taken, rec)
	if webhooks.ErrorCode(err) == webhooks.ENOTFOUND {
		return nil // its lease ran out, and another attempt took it: that one records
	} else if err != nil {
		return d.infra(ctx, job.Delivery.ID, err) // the attempt is made again (at-least-once)
	}
	observeAttempt(rec.Status, job.Delivery.EventType, res)
	if rec.Status == webhooks.StatusSucceeded {
		deliveredSeconds.Observe(time.Since(job.Delivery.CreatedAt).Seconds())
	}
	d.logAttempt(job, res, rec, number)
	d.judgeEndpoint(ctx, job, rec, res.OK())
	d.Circuits.AttemptEnded(ctx, e, job.Delivery.ID)
	if webhooks.IsFinalStatus(rec.Status) {
		d.nextOfKey(ctx, &job.Delivery)
	}
	if rec.Status == webhooks.StatusFailed && !job.Manual {
		// Once per delivery that fails for good: a user's retry or replay of
		// a failed one that fails again says nothing new.
		d.Publisher.PublishOperational(ctx, webhooks.DeliveryFailedEvent(job, rec, number, time.Now()))
	}
	if rec.Status == webhooks.StatusRetrying {
		if res.RetryAfter > 0 && delay == res.RetryAfter {
			// The receiver said when: asynq keeps retry times in whole
			// seconds, truncated, so the second is added to never come early.
			delay += time.Second
		}
		return &retryError{delay: delay, reason: *rec.LastError}
	}
	return nil
}

// end ends a taken delivery without an attempt: held, or failed saying why.
func (d *Deliverer) end(ctx context.Context, t *store.Taken, status, reason string) error {
	if err := d.DB.EndTaken(ctx, t.Delivery.ID, t.Delivery.CreatedAt, t.Lease, status, reason); err != nil {
		return d.infra(ctx, t.Delivery.ID, err)
	}
	if webhooks.IsFinalStatus(status) {
		d.nextOfKey(ctx, &t.Delivery)
	}
	return nil
}

// nextOfKey gives a task to the delivery that waited for ended, an ordered
// delivery that is now final: the next open one of its endpoint and ordering
// key (store.Take attempts only the first of a key). The task's id names
// both, so a second call for the same end adds nothing. A failure is only
// logged: the sweeper claims the waiting delivery after its grace, since it is
// now the first of its key.
func (d *Deliverer) nextOfKey(ctx context.Context, ended *webhooks.Delivery) {
	if ended.OrderingKey == nil {
		return
	}
	ctx = context.WithoutCancel(ctx)
	next, found, err := d.DB.NextOfKey(ctx, ended.EndpointID, *ended.OrderingKey)
	if err == nil && found {
		_, err = d.Queue.enqueueAs(ctx, payload{DeliveryID: next.ID, CreatedAt: next.CreatedAt}, next.ID+":after:"+ended.ID)
	}
	if err != nil {
		d.Log.Warn("the next delivery of an ordering key could not be given its task; the sweeper will",
			"delivery_id", ended.ID, "endpoint_id", ended.EndpointID, "error", err)
	}
}

// putBack gives a taken delivery back, unattempted, for its task to try again
// after err's delay (a put-back for the endpoint's or the worker's sake, or a
// failure before the attempt).
func (d *Deliverer) putBack(ctx context.Context, t *store.Taken, err error) error {
	if rerr := d.DB.Untake(context.WithoutCancel(ctx), t.Delivery.ID, t.Delivery.CreatedAt, t.Lease); rerr != nil {
		d.Log.Warn("a delivery put back could not be let go; it waits for its lease to run out", "delivery_id", t.Delivery.ID, "error", rerr)
	}
	return err
}

// send makes the attempt: a POST to the endpoint, or, for a listen session's
// endpoint, the same request handed to its stream.
func (d *Deliverer) send(ctx context.Context, job *webhooks.Job) webhooks.AttemptResult {
	m := outbound.Message{
		ID:        job.Delivery.ID,
		EventType: job.Delivery.EventType,
		URL:       job.Endpoint.URL,
		Secrets:   job.Endpoint.SigningSecrets(time.Now()),
		Body:      job.Envelope,
		Headers:   job.Endpoint.Headers,
	}
	id, listen := webhooks.ListenSession(job.Endpoint.URL)
	if !listen {
		return d.Sender.Send(ctx, m)
	}
	if d.Redis == nil {
		return webhooks.AttemptResult{StartedAt: time.Now(), Err: webhooks.ErrNoListener}
	}
	headers := map[string]string{}
	for k, v := range d.Sender.Headers(m, time.Now()) {
		headers[k] = v[0]
	}
	return Relay(ctx, d.Redis, id, webhooks.ListenMessage{DeliveryID: m.ID, EventType: m.EventType, Headers: headers, Body: string(m.Body)},
		d.Sender.Timeout())
}

// Recording an attempt is tried recordTries times, recordBackoff apart (doubling),
// before the task fails.
const (
	recordTries   = 3
	recordBackoff = 200 * time.Millisecond
)

// errNotRecorded marks a task that sent its request but could not record it.
var errNotRecorded = errors.New("attempt sent but not recorded")

// record stores rec of the delivery taken as t, trying again after a failure;
// the last try leaves out the receiver's body, in case it is what the
// database refuses. Every failure is logged: a sent attempt that is not
// recorded will be sent again. It returns the attempt's number.
func (d *Deliverer) record(ctx context.Context, t *store.Taken, rec webhooks.AttemptRecord) (int, error) {
	var err error
	wait := recordBackoff
	for try := 1; try <= recordTries; try++ {
		if try == recordTries && rec.Attempt.ResponseBody != nil {
			note := "the response body could not be stored"
			rec.Attempt.ResponseBody = &note
		}
		n, rerr := d.DB.RecordAttempt(context.WithoutCancel(ctx), t.Delivery.CreatedAt, t.Lease, rec)
		if rerr == nil || webhooks.ErrorCode(rerr) == webhooks.ENOTFOUND {
			return n, rerr
		}
		err = rerr
		d.Log.Error("record attempt failed", append(jobAttrs(&t.Job), "try", try, "error", err)...)
		if try < recordTries {
			select {
			case <-time.After(wait):
			case <-ctx.Done():
				return 0, fmt.Errorf("%w: %v", errNotRecorded, err)
			}
			wait *= 2
		}
	}
	return 0, fmt.Errorf("%w: %v", errNotRecorded, err)
}

// judgeEndpoint applies what an attempt says about its endpoint: a 410
// disables it; the breaker records the outcome (webhooks.Breaker.Record). A
// failure here is logged, not retried: the next attempt judges again.
func (d *Deliverer) judgeEndpoint(ctx context.Context, job *webhooks.Job, rec webhooks.AttemptRecord, ok bool) {
	e := &job.Endpoint
	if e.IsListenSession() {
		return // the CLI's, not the organization's: no breaker, no disabling (webhooks.ListenScheme)
	}
	ctx = context.WithoutCancel(ctx)
	if rec.DisableReason != "" {
		d.Circuits.Disable(ctx, e, rec.DisableReason, "gone")
		return
	}
	b := d.Circuits.Breaker
	if b.Failures == 0 && e.Circuit.State == webhooks.CircuitClosed {
		return // no breaker
	}
	// The outcome counts from when the attempt was made: a run of failures
	// began with the first failed attempt, before it was recorded.
	now := rec.Attempt.StartedAt
	if _, err := d.Circuits.Apply(ctx, e, func(c webhooks.Circuit) webhooks.Step { return b.Record(c, job.Delivery.ID, ok, now) },
		func(s webhooks.Step) {
			if s.Opened {
				d.Log.Warn("circuit opened: deliveries are held", "endpoint_id", e.ID, "organization_id", e.OrganizationID,
					"consecutive_failures", s.Next.Failures, "next_probe_at", s.Next.ProbeAt)
				d.Publisher.PublishOperational(ctx, webhooks.CircuitOpenedEvent(e, s.Next.Failures, rec, now, *s.Next.ProbeAt))
			}
		}); err != nil {
		d.Log.Error("recording an outcome on the circuit failed", "endpoint_id", e.ID, "error", err)
	}
}

// jobAttrs are the log attributes of every line about a delivery.
func jobAttrs(job *webhooks.Job) []any {
	return []any{"delivery_id", job.Delivery.ID, "endpoint_id", job.Endpoint.ID, "event_id", job.Delivery.EventID,
		"event_type", job.Delivery.EventType}
}

func (d *Deliverer) logAttempt(job *webhooks.Job, res webhooks.AttemptResult, rec webhooks.AttemptRecord, number int) {
	attrs := append(jobAttrs(job), "attempt", number, "status_code", res.StatusCode,
		"duration_ms", rec.Attempt.DurationMS, "outcome", rec.Status)
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
}

// retryError asks asynq to retry the task after delay (see retryDelay).
type retryError struct {
	delay  time.Duration
	reason string
}

func (e *retryError) Error() string { return "delivery attempt failed: " + e.reason }

// Backoff of tasks that failed before reaching a delivery decision (Postgres
// unreachable, an attempt that could not be recorded): infraRetryBase doubling
// per try, at most infraRetryMax, for at most infraRetryLimit tries — 30 cover
// hours of outage. After them the task is archived, and the sweeper marks the
// delivery failed.
const (
	infraRetryBase  = 5 * time.Second
	infraRetryMax   = 10 * time.Minute
	infraRetryLimit = 30
)

// infraError retries a task that failed before its delivery was decided.
type infraError struct {
	err   error
	delay time.Duration
}

func (e *infraError) Error() string { return e.err.Error() }
func (e *infraError) Unwrap() error { return e.err }

// infra counts a failure of delivery id's task before a delivery decision, in
// Redis (asynq's own count includes the times a delivery was put back for its
// endpoint's sake), and returns the error that retries it after the backoff, or
// gives up past infraRetryLimit.
func (d *Deliverer) infra(ctx context.Context, id string, err error) error {
	n := 0
	if d.Redis != nil {
		key := "empfio:infra:{" + id + "}"
		if c, rerr := d.Redis.Incr(context.WithoutCancel(ctx), key).Result(); rerr == nil {
			n = int(c)
			d.Redis.Expire(context.WithoutCancel(ctx), key, 24*time.Hour)
		}
	}
	if n == 0 {
		retried, _ := asynq.GetRetryCount(ctx)
		n = retried + 1
	}
	if n > infraRetryLimit {
		return fmt.Errorf("%v: giving up after %d tries: %w", err, n-1, asynq.SkipRetry)
	}
	return &infraError{err: err, delay: min(infraRetryBase<<min(n-1, 10), infraRetryMax)}
}

// retryDelay is the asynq RetryDelayFunc: the delay the handler chose (a
// scheduled retry, a put-back, an infrastructure backoff), or the backoff by
// asynq's count for anything else (a panic).
func retryDelay(n int, err error, _ *asynq.Task) time.Duration {
	var re *retryError
	var te *throttledError
	var ie *infraError
	switch {
	case errors.As(err, &re):
		return re.delay
	case errors.As(err, &te):
		return te.Delay(n)
	case errors.As(err, &ie):
		return ie.delay
	}
	return min(infraRetryBase<<min(n, 10), infraRetryMax)
}
