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

// LogsOptions select what Logs reads.
type LogsOptions struct {
	// Follow keeps reading new output until the process ends for good.
	Follow bool
	// Tail limits the output to the last Tail lines of each stream; negative means all.
	Tail int
	// Stream selects stdout or stderr; LogBoth (the zero value) reads both.
	Stream LogStream
}

// Logs copies what the process target names wrote to its stdout and stderr
// into stdout and stderr, until the end of its logs, or with Follow until it
// ends for good or ctx is done.
func (c *Client) Logs(ctx context.Context, target string, opts LogsOptions, stdout, stderr io.Writer) error {
	stream, err := c.procs.Logs(ctx, connect.NewRequest(&nefelev1.LogsRequest{
		Target: target, Follow: opts.Follow, Tail: int32(opts.Tail), Stream: opts.Stream,
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
