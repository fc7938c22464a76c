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

// Deliverer is the asynq handler of TypeDeliver tasks.
//
// Guarantees: delivery is at-least-once — a task may run twice (a worker killed
// after the POST, before recording it), so receivers drop repeats by
// X-Empfio-Delivery. Every attempt sends the envelope stored with the event, byte
// for byte. Each attempt is recorded, and moves the delivery as
// webhooks.Decide says (succeeded, retrying with next_attempt_at, or failed with
// one structured log line); an endpoint is disabled on 410 Gone.
//
// The circuit breaker (webhooks.Breaker): after Breaker.Failures failed attempts
// in a row an endpoint's circuit opens; a delivery to it is then held (no
// attempt; the breaker's rounds own it, see BreakerRounds) unless it is the
// probe, whose success closes the circuit and whose failure holds it again.
// A manual retry or replay is sent whatever the circuit.
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
	Breaker  webhooks.Breaker       // zero: no circuit breaker
	// Publisher publishes the operational events (delivery.failed,
	// webhook.disabled, webhook.circuit_opened, webhook.circuit_closed); nil
	// publishes none.
	Publisher *Publisher
	// Throttle caps each endpoint's deliveries in flight and its rate; nil: none.
	Throttle *Throttle
	// Endpoints keeps endpoints in memory for first attempts; nil: every
	// attempt reads its delivery, event and endpoint from Postgres.
	Endpoints *store.EndpointCache
	// Redis counts the tries of tasks that fail before a delivery decision,
	// and marks the batch tasks that have run; nil: asynq's retry count
	// counts the tries, and a batch always reads its deliveries.
	Redis redis.UniversalClient
	// Queue gives a delivery of a batch task that is not final after its
	// attempt a task of its own (see ProcessBatch).
	Queue *Queue
	// FreshFor is how long after it was enqueued a batch task's deliveries are
	// taken as published, without reading them; keep it under the sweeper's
	// Grace, after which the sweeper gives them tasks of their own (zero: half
	// of DefaultSweepGrace).
	FreshFor time.Duration
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
	how := readRow
	if retried, _ := asynq.GetRetryCount(ctx); retried == 0 {
		how = asPublished
	}
	return d.attempt(ctx, p, how)
}

// take is how an attempt takes its delivery.
type take int

const (
	// readRow reads the delivery: it may have moved on since its task was made.
	readRow take = iota
	// asPublished takes it as Publish stored it, if the task carries it (see job).
	asPublished
	// ifUntouched reads it, and leaves it unless it is as published: a
	// batch's delivery that moved on has a task of its own (see ProcessBatch).
	ifUntouched
)

// attempt makes the attempt of p's delivery, taken as how says.
func (d *Deliverer) attempt(ctx context.Context, p *payload, how take) (err error) {
	ctx, span := telemetry.Tracer.Start(telemetry.Extract(ctx, p.Trace), "deliver", trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(attribute.String("empfio.delivery_id", p.DeliveryID)))
	defer func() {
		var re *retryError
		if err != nil && !errors.As(err, &re) {
			span.SetStatus(codes.Error, err.Error())
		}
		span.End()
	}()
	job, err := d.job(ctx, p, how == asPublished)
	if webhooks.ErrorCode(err) == webhooks.ENOTFOUND {
		return nil // its endpoint was deleted, and the delivery with it
	} else if err != nil {
		return d.infra(ctx, p.DeliveryID, err)
	}
	if webhooks.IsFinalStatus(job.Delivery.Status) {
		return nil // a repeated task of a delivery already done
	}
	if how == ifUntouched && !job.Delivery.Untouched() {
		return nil // its own task attempts it
	}
	if !job.Endpoint.Enabled {
		return d.DB.FailDelivery(ctx, job.Delivery.ID, "endpoint is disabled")
	}
	if job.Endpoint.Health.State != webhooks.CircuitClosed && !job.Manual {
		gate, err := d.DB.HoldOrProbe(ctx, job.Delivery.ID, job.Endpoint.ID)
		switch {
		case err != nil:
			return d.infra(ctx, job.Delivery.ID, err)
		case gate == store.GateHeld:
			heldTotal.Inc()
			d.Log.Debug("delivery held: the endpoint's circuit is open", jobAttrs(job)...)
			return nil
		case gate == store.GateProbe:
			job.Probe = true
		}
	}
	leave, err := d.enter(ctx)
	if err != nil {
		return err
	}
	release := func() {}
	if d.Throttle != nil {
		var back *throttledError
		release, back, err = d.Throttle.Acquire(ctx, &job.Endpoint)
		if err != nil {
			leave()
			return d.infra(ctx, job.Delivery.ID, err)
		}
		if back != nil {
			leave()
			return back
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
		span.SetAttributes(attribute.String("empfio.endpoint_id", job.Endpoint.ID), attribute.String("empfio.event_id", job.Delivery.EventID),
			attribute.Int("http.response.status_code", res.StatusCode), attribute.String("empfio.outcome", rec.Status),
			attribute.Bool("empfio.probe", job.Probe))
	}
	recorded, err := d.record(ctx, job, rec)
	if err != nil {
		return d.infra(ctx, job.Delivery.ID, err) // the attempt is made again (at-least-once)
	}
	observeAttempt(rec.Status, job.Delivery.EventType, res)
	d.logAttempt(job, res, rec, recorded.Number)
	d.judgeEndpoint(ctx, job, rec, recorded)
	if rec.Status == webhooks.StatusFailed {
		d.Publisher.PublishOperational(ctx, webhooks.DeliveryFailedEvent(job, rec, recorded.Number, time.Now()))
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

// job returns what the attempt of p needs. The first run of a task that
// Publish gave (asPublished) carries its delivery as stored, and its endpoint
// comes from Endpoints: nothing is read. Every other run reads the delivery,
// which may have moved on: a retry, a task the sweeper, a user or the breaker
// gave, a task asynq recovered from a worker that died (asynq counts that as a
// retry), a batch task run again or old (see ProcessBatch).
func (d *Deliverer) job(ctx context.Context, p *payload, asPublished bool) (*webhooks.Job, error) {
	if !asPublished || p.Published == nil || d.Endpoints == nil {
		return d.DB.Job(ctx, p.DeliveryID)
	}
	e, err := d.Endpoints.Endpoint(ctx, p.Published.EndpointID, p.Published.EndpointVersion)
	if err != nil {
		return nil, err
	}
	return p.Published.job(p.DeliveryID, e), nil
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

// record stores rec, trying again after a failure; the last try leaves out the
// receiver's body, in case it is what the database refuses. Every failure is
// logged: a sent attempt that is not recorded will be sent again.
func (d *Deliverer) record(ctx context.Context, job *webhooks.Job, rec webhooks.AttemptRecord) (store.Recorded, error) {
	var err error
	wait := recordBackoff
	for try := 1; try <= recordTries; try++ {
		if try == recordTries && rec.Attempt.ResponseBody != nil {
			note := "the response body could not be stored"
			rec.Attempt.ResponseBody = &note
		}
		recorded, rerr := d.DB.RecordAttempt(context.WithoutCancel(ctx), rec)
		if rerr == nil {
			return recorded, nil
		}
		err = rerr
		d.Log.Error("record attempt failed", append(jobAttrs(job), "try", try, "error", err)...)
		if try < recordTries {
			select {
			case <-time.After(wait):
			case <-ctx.Done():
				return store.Recorded{}, fmt.Errorf("%w: %v", errNotRecorded, err)
			}
			wait *= 2
		}
	}
	return store.Recorded{}, fmt.Errorf("%w: %v", errNotRecorded, err)
}

// judgeEndpoint applies what an attempt says about its endpoint: a 410 disables
// it; a success closes its circuit if it was not closed; a failed probe opens
// it again for longer; Breaker.Failures failures in a row open it. A failure
// here is logged, not retried: the next attempt judges again.
func (d *Deliverer) judgeEndpoint(ctx context.Context, job *webhooks.Job, rec webhooks.AttemptRecord, r store.Recorded) {
	if job.Endpoint.IsListenSession() {
		return // the CLI's, not the organization's: no breaker, no disabling (webhooks.ListenScheme)
	}
	ctx = context.WithoutCancel(ctx)
	e := &job.Endpoint
	switch {
	case rec.DisableReason != "":
		d.disable(ctx, job, rec.DisableReason)
	case rec.Status == webhooks.StatusSucceeded:
		if job.Probe || e.Health.State != webhooks.CircuitClosed || (r.Circuit != "" && r.Circuit != webhooks.CircuitClosed) {
			d.closeCircuit(ctx, job)
		}
	case job.Probe:
		next, err := d.DB.ReopenCircuit(ctx, e.ID, job.Delivery.ID, d.Breaker.ProbeInterval, webhooks.MaxProbeInterval)
		if err != nil {
			d.Log.Error("reopening a circuit failed", "endpoint_id", e.ID, "error", err)
		} else if !next.IsZero() {
			d.Log.Info("probe failed; circuit open again", append(jobAttrs(job), "next_probe_at", next)...)
		}
	case r.Circuit == webhooks.CircuitClosed && d.Breaker.Opens(r.Failures):
		opened, probeAt, err := d.DB.OpenCircuit(ctx, e.ID, d.Breaker.Failures, d.Breaker.ProbeInterval)
		switch {
		case err != nil:
			d.Log.Error("opening a circuit failed", "endpoint_id", e.ID, "error", err)
		case opened:
			circuitsTotal.WithLabelValues(webhooks.CircuitOpen).Inc()
			d.Log.Warn("circuit opened: deliveries are held", "endpoint_id", e.ID, "organization_id", e.OrganizationID,
				"consecutive_failures", r.Failures, "next_probe_at", probeAt)
			d.Publisher.PublishOperational(ctx, webhooks.CircuitOpenedEvent(e, r.Failures, rec, time.Now(), probeAt))
		}
	}
}

func (d *Deliverer) closeCircuit(ctx context.Context, job *webhooks.Job) {
	e := &job.Endpoint
	closed, openedAt, held, err := d.DB.CloseCircuit(ctx, e.ID)
	switch {
	case err != nil:
		d.Log.Error("closing a circuit failed", "endpoint_id", e.ID, "error", err)
	case closed:
		circuitsTotal.WithLabelValues(webhooks.CircuitClosed).Inc()
		d.Log.Info("circuit closed: releasing held deliveries", "endpoint_id", e.ID, "organization_id", e.OrganizationID, "held", held)
		d.Publisher.PublishOperational(ctx, webhooks.CircuitClosedEvent(e, openedAt, held, time.Now()))
	}
}

// disable turns the endpoint of job off for reason (a 410), and says so once.
func (d *Deliverer) disable(ctx context.Context, job *webhooks.Job, reason string) {
	if err := disableEndpoint(ctx, d.DB, d.Publisher, d.Log, &job.Endpoint, reason, "gone"); err != nil {
		d.Log.Error("disable endpoint failed", "endpoint_id", job.Endpoint.ID, "reason", reason, "error", err)
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
