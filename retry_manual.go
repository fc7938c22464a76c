package webhooks

// ManualRetry is what a user's "send it again now" (POST
// /deliveries/{id}/retry) makes of a delivery in status: it is attempted now,
// and
//   - a final one (succeeded, failed) gets exactly one attempt, after which it is
//     final again (Manual);
//   - a held one is sent as its endpoint's probe (Probe): its success closes
//     the circuit and releases the rest, its failure holds it again, spending
//     no retry;
//   - a pending or retrying one keeps its retry schedule.
type ManualRetry struct {
	Status string // the delivery's status until the attempt
	Manual bool
	Probe  bool
}

// RetryNow returns the ManualRetry of a delivery in status.
func RetryNow(status string) ManualRetry {
	switch status {
	case StatusSucceeded, StatusFailed:
		return ManualRetry{Status: StatusPending, Manual: true}
	case StatusHeld:
		return ManualRetry{Status: StatusPending, Probe: true}
	case StatusRetrying:
		return ManualRetry{Status: StatusRetrying}
	}
	return ManualRetry{Status: StatusPending}
}
