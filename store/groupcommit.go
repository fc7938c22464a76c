package store

import (
	"context"
	"errors"

	"github.com/empfio/webhooks/internal/group"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Group commit (internal/group): concurrent writes and reads that wait at the
// same moment are sent together, one statement per kind with the group's rows
// as arrays, in one transaction. A group that fails as a whole runs request by
// request, so each caller gets its own error.

// errSplit makes a group run request by request (it cannot run as one).
var errSplit = errors.New("store: group must run request by request")

// groupSize observes how many requests each group carried, by kind.
var groupSize = promauto.NewHistogramVec(prometheus.HistogramOpts{
	Name:    "empfio_store_group_size",
	Help:    "Requests per group sent to Postgres (group commit), by kind.",
	Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128, 256},
}, []string{"kind"})

// newCommitter returns the committer of one kind of request.
func newCommitter[T, R any](kind string, exec func(context.Context, []T) ([]R, error)) *group.Committer[T, R] {
	return group.New(group.Max, exec, groupSize.WithLabelValues(kind))
}

// inOrder returns, for each of ids, the row of found whose key is that id, or
// T's zero value where none is: a group read's answers in its requests' order.
func inOrder[T any](ids []string, found []T, key func(T) string) []T {
	byID := make(map[string]T, len(found))
	for _, row := range found {
		byID[key(row)] = row
	}
	out := make([]T, len(ids))
	for i, id := range ids {
		out[i] = byID[id]
	}
	return out
}
