package nefele

import (
	"context"
	"errors"
	"io"

	"connectrpc.com/connect"

	nefelev1 "github.com/nefele/nefele/api/nefele/v1"
)

// LogStream names one of a process's output streams.
type LogStream = nefelev1.LogStream

// The log streams.
const (
	LogBoth   = nefelev1.LogStream_LOG_STREAM_UNSPECIFIED
	LogStdout = nefelev1.LogStream_LOG_STREAM_STDOUT
	LogStderr = nefelev1.LogStream_LOG_STREAM_STDERR
)

// LogsOptions select what Logs reads. The zero value reads everything
// written so far, on both streams.
type LogsOptions struct {
	// Follow keeps reading new output until the process ends for good.
	Follow bool
	// Tail limits the output to the last Tail lines of each stream; 0 (or
	// less) means all of it.
	Tail int
	// NewOnly skips what was written before the call: with Follow, only new
	// output comes (like tail -n 0 -f).
	NewOnly bool
	// Stream selects stdout or stderr; LogBoth (the zero value) reads both.
	Stream LogStream
}

// wireTail is the API's tail: -1 all, 0 none, N the last N lines.
func (o LogsOptions) wireTail() int32 {
	switch {
	case o.NewOnly:
		return 0
	case o.Tail <= 0:
		return -1
	}
	return int32(o.Tail)
}

// Logs copies what the process target names wrote to its stdout and stderr
// into stdout and stderr, until the end of its logs, or with Follow until it
// ends for good or ctx is done.
func (c *Client) Logs(ctx context.Context, target string, opts LogsOptions, stdout, stderr io.Writer) error {
	stream, err := c.procs.Logs(ctx, connect.NewRequest(&nefelev1.LogsRequest{
		Target: target, Follow: opts.Follow, Tail: opts.wireTail(), Stream: opts.Stream,
	}))
	if err != nil {
		return c.wrapErr(err)
	}
	defer stream.Close()
	for stream.Receive() {
		msg := stream.Msg()
		w := stdout
		if msg.Stream == LogStderr {
			w = stderr
		}
		if _, err := w.Write(msg.Data); err != nil {
			return err
		}
	}
	if err := stream.Err(); err != nil {
		if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
			return ctx.Err()
		}
		return c.wrapErr(err)
	}
	return nil
}
