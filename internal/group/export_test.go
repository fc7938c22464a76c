package group

import "time"

// WaitQueued waits, up to a deadline, until n requests wait in c's queue
// behind the group being run; false if they never do.
func (c *Committer[T, R]) WaitQueued(n int) bool {
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if len(c.ops) >= n {
			return true
		}
	}
	return false
}
