package store

// KeepWithoutListening makes c keep what it reads, as if it listened, though
// no notification will ever reach it: only the versions decide.
func (c *EndpointCache) KeepWithoutListening() { c.reset(true) }
