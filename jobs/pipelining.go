package jobs

import (
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Pipelined returns rdb with go-redis's automatic pipelining: the commands that
// goroutines issue at the same moment — asynq's enqueues, the inbound dedup
// claims, the rate limits and the in-flight cap's scripts — go to Redis
// together, one write and one read for the lot, instead of a round trip each.
// Not for a caller that waits for each command before it issues the next, as
// asynq's server does with its dequeues (see NewServer): there, every command
// would wait for the batch ahead of it. Each call still blocks until its own
// reply is in and returns its own result, so callers do not change; a lone
// command is sent at once, so nothing waits at idle. Blocking reads (a listen session's XREAD BLOCK) and
// MULTI/EXEC pipelines keep connections of their own.
//
// Why: on a machine shared by every process, the system calls of one round
// trip per command were the api's and the worker's largest single cost, and
// Redis's own (bench/RESULTS.md).
//
// What changes for callers: a command's context no longer cuts it short once
// it is queued; the connection's timeouts bound it. Make rdb with
// PipelineMaxRetries and PipelineReadTimeout, so that a batch is never sent
// twice and a hung Redis fails a command within seconds. Closing the result
// closes rdb.
func Pipelined(rdb redis.UniversalClient) (redis.UniversalClient, error) {
	ap, err := rdb.AutoPipeline()
	if err != nil {
		return nil, fmt.Errorf("redis pipelining: %w", err)
	}
	return pipelined{ap, rdb}, nil
}

// The settings of a client given to Pipelined.
//
// A batch that failed is not sent again (PipelineMaxRetries): go-redis would
// resend it whole, timeouts included, and a command that timed out may have
// run — a dedup SET NX or an asynq dequeue must not run twice. The caller
// sees the error (the api answers 503; asynq retries its own calls later).
//
// PipelineReadTimeout bounds the wait for a batch's replies. A batch against
// a Redis that accepts and never answers fails after about twice this (4 s,
// measured), where go-redis's defaults (5 s, three retries) took 40 s.
// Redis answers in microseconds; blocking reads (XREAD BLOCK) add their own
// block time to it.
const (
	PipelineMaxRetries  = -1
	PipelineReadTimeout = 2 * time.Second
)

// pipelined is an autopipeliner that owns its client.
type pipelined struct {
	*redis.AutoPipeliner
	base redis.UniversalClient
}

// Close stops the pipeliner, once what is queued is sent, then the client.
func (p pipelined) Close() error {
	p.AutoPipeliner.Close()
	return p.base.Close()
}
