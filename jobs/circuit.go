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

// releaseOrderWait bounds how long a release waits for the attempt of the
// delivery it released last before it releases the next: a receiver that
// answers within it gets held deliveries strictly in their original order; a
// slower one does not hold the release up longer.
const releaseOrderWait = 2 * time.Second

// orderWaitEnd is when the wait for the attempt of a delivery released now
// ends: releaseOrderWait from now at least. asynq keeps a scheduled task's
// time in whole seconds, truncated, so it is rounded up to the next second
// (else the wait could end a second early).
func orderWaitEnd() time.Time {
	return time.Now().Add(releaseOrderWait).Truncate(time.Second).Add(time.Second)
}

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
	// Release, instead, releases the next held delivery, if the release is
	// still at After (the one released last; empty: none yet).
	Release bool   `json:"release,omitempty"`
	After   string `json:"after,omitempty"`
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

// ScheduleRelease has the release of endpoint id's held deliveries go on at
// at from after (the delivery released last; "" to begin), as a task named
// for why (the release's ways of going on meet at ReleaseNext).
func (d *Circuits) ScheduleRelease(ctx context.Context, id, after, why string, at time.Time) error {
	return d.Queue.enqueueCircuit(ctx, circuitTask{EndpointID: id, Release: true, After: after},
		"release:"+id+":"+after+":"+why, at)
}

// AttemptEnded goes on with e's release when the delivery whose attempt ended
// is the one released last: the next is released a release gap after it.
func (d *Circuits) AttemptEnded(ctx context.Context, e *webhooks.Endpoint, deliveryID string) {
	if e.Circuit.Releasing == nil || *e.Circuit.Releasing != deliveryID {
		return
	}
	if err := d.ScheduleRelease(context.WithoutCancel(ctx), e.ID, deliveryID, "next", time.Now().Add(d.Breaker.ReleaseGap(e))); err != nil {
		d.Log.Warn("going on with a release failed; its wait will", "endpoint_id", e.ID, "error", err)
	}
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
		if err := d.release(ctx, e, e.Circuit.Releasing); err != nil {
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
		var after *string
		if ct.After != "" {
			after = &ct.After
		}
		return d.release(ctx, e, after)
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

// release releases e's oldest held delivery, if the release is at after:
// it is made due and given its task, and the release waits for its attempt to
// end (AttemptEnded), or releaseOrderWait, whichever comes first, before the
// next. One held delivery at a time, in their original order, at the release
// rate at most, and nobody polls. A circuit that opened again stops it: what
// is still held waits for the next close.
func (d *Circuits) release(ctx context.Context, e *webhooks.Endpoint, after *string) error {
	if e.Circuit.State != webhooks.CircuitClosed {
		return d.DB.EndRelease(ctx, e.ID, after)
	}
	next, moved, err := d.DB.ReleaseNext(ctx, e.ID, after)
	if err != nil || !moved {
		return err // !moved: the release went on another way already
	}
	if next.ID == "" {
		d.Log.Debug("released every held delivery", "endpoint_id", e.ID)
		return nil
	}
	// Pending and due: if this enqueue fails, the sweeper gives it its task.
	if err := d.Queue.Enqueue(ctx, next.ID, next.CreatedAt, time.Time{}); err != nil {
		return err
	}
	return d.ScheduleRelease(ctx, e.ID, next.ID, "wait", orderWaitEnd())
}

// Tend gives e's circuit its task back, in case Redis lost it: its timer, or
// the release of what it held — its start, or the wait for the attempt of the
// one it released last, under the wait's own task id: a wait that is still
// there is kept, so tending never hurries a release out of order.
func (d *Circuits) Tend(ctx context.Context, e *webhooks.Endpoint) error {
	switch {
	case e.Circuit.State != webhooks.CircuitClosed:
		return d.scheduleTimer(ctx, e.ID, e.Circuit)
	case e.Circuit.Releasing == nil:
		return d.ScheduleRelease(ctx, e.ID, "", "tend", time.Now())
	}
	return d.ScheduleRelease(ctx, e.ID, *e.Circuit.Releasing, "wait", orderWaitEnd())
}

// Disable turns endpoint e off for reason, and says so once: a log line,
// empfio_endpoints_disabled_total{reason=cause} and webhook.disabled. A
// failure is logged.
func (d *Circuits) Disable(ctx context.Context, e *webhooks.Endpoint, reason, cause string) {
	if err := disableEndpoint(ctx, d.DB, d.Publisher, d.Log, e, reason, cause); err != nil {
		d.Log.Error("disable endpoint failed", "endpoint_id", e.ID, "reason", reason, "error", err)
	}
}
