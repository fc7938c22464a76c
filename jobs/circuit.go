package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	webhooks "github.com/empfio/webhooks"
	"github.com/empfio/webhooks/store"
	"github.com/hibiken/asynq"
)

// TypeCircuit is the asynq task type of an endpoint's circuit: its timer (a
// probe due, a probe lost, the disabling of an endpoint open too long —
// webhooks.Breaker.Due) or a step of the release of what it held. Nothing
// polls: each change of a circuit that is not closed schedules the timer of
// its new version, and each release step schedules the next. Held deliveries
// have no task: they live in Postgres only, so a Redis flush while a circuit
// is open loses none of them, and the sweeper gives every circuit its task
// back (CircuitsToTend).
const TypeCircuit = "webhook:circuit"

// releaseStep is how many held deliveries one release step makes due again.
const releaseStep = 500

// Circuits applies the breaker's decisions (webhooks.Breaker) to endpoints'
// circuits, stored over the version they were decided from, and runs the
// circuits' tasks. The worker's deliveries and the api's manual retries share
// it, so that a circuit changes in one place. It is safe for concurrent use.
type Circuits struct {
	DB        *store.DB
	Queue     *Queue
	Breaker   webhooks.Breaker // zero: no circuit breaker
	Publisher *Publisher       // for the operational events; nil: none
	Log       *slog.Logger
}

// circuitTask is a TypeCircuit task's payload.
type circuitTask struct {
	EndpointID string `json:"endpoint_id"`
	// Version is the circuit's the timer was set for: a timer of an older
	// version does nothing (the newer version has its own).
	Version int64 `json:"version"`
	// Release, instead, makes the next held deliveries due from From on.
	Release bool      `json:"release,omitempty"`
	From    time.Time `json:"from,omitzero"`
}

// scheduleTimer gives endpoint id's circuit c its timer, due at
// Breaker.Timer(c); nothing for a closed circuit. A timer of that version
// that exists already is kept.
func (d *Circuits) scheduleTimer(ctx context.Context, id string, c webhooks.Circuit) error {
	at := d.Breaker.Timer(c)
	if at.IsZero() {
		return nil
	}
	return d.Queue.enqueueCircuit(ctx, circuitTask{EndpointID: id, Version: c.Version}, "circuit:"+id+":"+strconv.FormatInt(c.Version, 10), at)
}

// scheduleRelease starts (or goes on with) the release of endpoint id's held
// deliveries: the first due at from.
func (d *Circuits) ScheduleRelease(ctx context.Context, id string, from time.Time) error {
	return d.Queue.enqueueCircuit(ctx, circuitTask{EndpointID: id, Release: true, From: from},
		"release:"+id+":"+strconv.FormatInt(from.UnixNano(), 10), from)
}

func (q *Queue) enqueueCircuit(ctx context.Context, t circuitTask, taskID string, at time.Time) error {
	b, _ := json.Marshal(t)
	_, err := q.client.EnqueueContext(ctx, asynq.NewTask(TypeCircuit, b), asynq.TaskID(taskID), asynq.Queue(q.name),
		asynq.MaxRetry(infraRetryLimit), asynq.ProcessAt(at))
	if err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
		return webhooks.Unavailable("Redis", err)
	}
	return nil
}

// circuitTries bounds how often a decision is made again after another change
// of the circuit came first.
const circuitTries = 5

// Apply applies to endpoint e's circuit what decide makes of it: decided on
// e's circuit as read, stored over its version, decided again on a fresh read
// whenever another change came first. Then it does what follows from the step
// stored: on closing, webhook.circuit_closed and the release of what was
// held; the new circuit's timer; then, to each of then, the step. It returns
// the step, and leaves e with the circuit as stored.
func (d *Circuits) Apply(ctx context.Context, e *webhooks.Endpoint, decide func(webhooks.Circuit) webhooks.Step, then ...func(webhooks.Step)) (webhooks.Step, error) {
	for try := 1; ; try++ {
		step := decide(e.Circuit)
		if !step.Changed {
			return step, nil
		}
		ok, err := d.DB.ApplyCircuit(ctx, e.ID, e.Circuit.Version, step.Next)
		if err != nil {
			return step, err
		}
		if ok {
			step.Next.Version = e.Circuit.Version + 1
			opened := e.Circuit.Since
			e.Circuit, e.Health = step.Next, step.Next.Health(0)
			d.followStep(ctx, e, step, opened)
			for _, f := range then {
				f(step)
			}
			return step, nil
		}
		if try == circuitTries {
			return step, fmt.Errorf("circuit of endpoint %s: %d changes came first", e.ID, try)
		}
		fresh, err := d.DB.EndpointByID(ctx, e.ID)
		if err != nil {
			return step, err
		}
		e.Circuit = fresh.Circuit
	}
}

// followStep does what a stored step of e's circuit calls for. Failures are
// logged: the sweeper tends every circuit that needs it.
func (d *Circuits) followStep(ctx context.Context, e *webhooks.Endpoint, s webhooks.Step, openedAt *time.Time) {
	ctx = context.WithoutCancel(ctx)
	switch {
	case s.Opened:
		circuitsTotal.WithLabelValues(webhooks.CircuitOpen).Inc()
	case s.Closed:
		circuitsTotal.WithLabelValues(webhooks.CircuitClosed).Inc()
		held, err := d.DB.HeldCount(ctx, e.ID)
		if err != nil {
			d.Log.Error("counting held deliveries failed", "endpoint_id", e.ID, "error", err)
		}
		d.Log.Info("circuit closed: releasing held deliveries", "endpoint_id", e.ID, "organization_id", e.OrganizationID, "held", held)
		d.Publisher.PublishOperational(ctx, webhooks.CircuitClosedEvent(e, openedAt, held, time.Now()))
		if err := d.ScheduleRelease(ctx, e.ID, time.Now()); err != nil {
			d.Log.Warn("starting a release failed; the sweeper will start it", "endpoint_id", e.ID, "error", err)
		}
	}
	if err := d.scheduleTimer(ctx, e.ID, s.Next); err != nil {
		d.Log.Warn("setting a circuit's timer failed; the sweeper will set it", "endpoint_id", e.ID, "error", err)
	}
}

// ProcessTask runs a TypeCircuit task (see there).
func (d *Circuits) ProcessTask(ctx context.Context, t *asynq.Task) error {
	var ct circuitTask
	if err := json.Unmarshal(t.Payload(), &ct); err != nil || ct.EndpointID == "" {
		return fmt.Errorf("bad circuit task: %w", asynq.SkipRetry)
	}
	e, err := d.DB.EndpointByID(ctx, ct.EndpointID)
	switch {
	case webhooks.ErrorCode(err) == webhooks.ENOTFOUND:
		return nil
	case err != nil:
		return err
	case e.DeletedAt != nil || !e.Enabled:
		return nil // deleted, or off: enabling it again closes the circuit and releases
	case ct.Release:
		return d.release(ctx, e, ct.From)
	case e.Circuit.Version != ct.Version:
		return nil // the circuit moved on, and set its own timer
	}
	now := time.Now()
	step := d.Breaker.Due(e.Circuit, now)
	switch {
	case step.Disable:
		d.Disable(ctx, e, d.Breaker.DisableReason(*e.Circuit.Since), "circuit")
		return nil
	case step.Probe:
		return d.probe(ctx, e, now)
	case step.Changed:
		_, err := d.Apply(ctx, e, func(webhooks.Circuit) webhooks.Step { return step })
		return err
	}
	return d.scheduleTimer(ctx, e.ID, e.Circuit) // early: wait on
}

// probe sends the oldest held delivery of e as its circuit's probe. With
// nothing held the circuit waits, open: the next delivery to come is the probe
// (Breaker.Gate).
func (d *Circuits) probe(ctx context.Context, e *webhooks.Endpoint, now time.Time) error {
	id, created, err := d.DB.OldestHeld(ctx, e.ID)
	if err != nil || id == "" {
		return err
	}
	if _, err := d.Apply(ctx, e, func(c webhooks.Circuit) webhooks.Step { return d.Breaker.StartProbe(c, id, now) }); err != nil {
		return err
	}
	// Pending and due: if this enqueue fails, the sweeper gives it its task.
	if err := d.Queue.Enqueue(ctx, id, created, time.Time{}); err != nil {
		return err
	}
	d.Log.Info("probe sent to an open circuit", "endpoint_id", e.ID, "delivery_id", id)
	return nil
}

// release makes the next releaseStep held deliveries of e due, in their
// original order, each a release gap after the one before — from from on, or
// after the last one a release made due already — and gives them their tasks;
// while more are held it schedules its next step, due with the last one made
// due now. Two releases of one endpoint at once (the sweeper's, after Redis
// lost a step) keep the rate: each continues after the other. A circuit that
// opened again stops it: what is still held waits for the next close.
func (d *Circuits) release(ctx context.Context, e *webhooks.Endpoint, from time.Time) error {
	if e.Circuit.State != webhooks.CircuitClosed {
		return nil
	}
	gap := d.Breaker.ReleaseGap(e)
	list, err := d.DB.ReleaseHeld(ctx, e.ID, from, gap, releaseStep)
	if err != nil {
		return err
	}
	for _, r := range list {
		if err := d.Queue.Enqueue(ctx, r.ID, r.CreatedAt, r.DueAt); err != nil {
			return err // pending and due: the sweeper gives the rest their tasks
		}
	}
	if len(list) == releaseStep {
		return d.ScheduleRelease(ctx, e.ID, list[len(list)-1].DueAt.Add(gap))
	}
	d.Log.Debug("released held deliveries", "endpoint_id", e.ID, "count", len(list))
	return nil
}

// Tend gives e's circuit its task back, in case Redis lost it: its timer, or
// the release of what it held (at most one started a minute).
func (d *Circuits) Tend(ctx context.Context, e *webhooks.Endpoint) error {
	if e.Circuit.State == webhooks.CircuitClosed {
		return d.ScheduleRelease(ctx, e.ID, time.Now().Truncate(time.Minute))
	}
	return d.scheduleTimer(ctx, e.ID, e.Circuit)
}

// Disable turns endpoint e off for reason, and says so once: a log line,
// empfio_endpoints_disabled_total{reason=cause} and webhook.disabled. A
// failure is logged.
func (d *Circuits) Disable(ctx context.Context, e *webhooks.Endpoint, reason, cause string) {
	if err := disableEndpoint(ctx, d.DB, d.Publisher, d.Log, e, reason, cause); err != nil {
		d.Log.Error("disable endpoint failed", "endpoint_id", e.ID, "reason", reason, "error", err)
	}
}
