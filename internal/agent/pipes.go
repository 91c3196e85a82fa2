package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"syscall"
	"time"

	"github.com/nefele/nefele/internal/apiserver"
	"github.com/nefele/nefele/internal/model"
)

// Pipes: a process whose spec has StdinFrom reads the stdout of another
// process, the writer, on its stdin. The writer's output is its log file on
// its node, so the agent of the reader feeds the pipe from that log, the way
// `nefele logs -f` reads it: from this node's file when the writer is (or
// was) here, else from the agent of the writer's node. See
// docs/architecture.md, "Pipes".

const (
	// feedRetryMin and feedRetryMax bound the wait between two attempts to
	// read the writer's output when one failed (its node is down, say).
	feedRetryMin = 100 * time.Millisecond
	feedRetryMax = 5 * time.Second
	// feedStartWait bounds one wait for a pending writer to start.
	feedStartWait = 30 * time.Second
)

// stdinSource resolves the target of a spec's StdinFrom to the one GPID it
// names now: a GPID, a process or group name (like every command's target),
// or else a name a process registered. A target that names nothing is
// model.ErrNoProcess naming it; one that names several processes (a group
// of replicas) is invalid.
func (a *Agent) stdinSource(ctx context.Context, target string) (model.GPID, error) {
	procs, err := a.Resolve(ctx, target)
	if err != nil {
		return "", err
	}
	if len(procs) > 1 {
		return "", model.Invalid(target, fmt.Sprintf("stdin from %s: it names %d processes (the replicas of a group); give the GPID of one", target, len(procs)))
	}
	return procs[0].GPID, nil
}

// feed implements supervisor.Config.Feed: it writes to w the stdout of the
// writer, rec.Spec.StdinFrom (a GPID), from its first byte, as it comes. It
// returns once the writer has ended for good and all it wrote was written,
// when ctx is done (the reader's run ended), or when w fails (the reader
// closed its stdin, or exited: not an error). An attempt that fails, because
// the writer's node cannot be reached say, is made again, reading from the
// first byte and skipping what was written already, for as long as the
// reader runs: the reader waits for the rest rather than reading an early
// EOF.
func (a *Agent) feed(ctx context.Context, rec model.Process, w io.Writer) {
	src := model.GPID(rec.Spec.StdinFrom)
	log := a.log.With("gpid", rec.GPID, "stdin_from", src)
	out := &replay{w: w}
	retry := feedRetryMin
	for {
		before := out.written
		complete, err := a.feedOnce(ctx, src, out)
		switch {
		case complete:
			log.Debug("stdin fed to the end", "bytes", out.written)
			return
		case ctx.Err() != nil:
			return
		case out.err != nil:
			readerGone(log, out.err)
			return
		case errors.Is(err, model.ErrNoProcess):
			log.Warn("the writer's record is gone: closing stdin after what was fed", "bytes", out.written)
			return
		}
		if out.written > before {
			retry = feedRetryMin
		}
		if err != nil && retry == feedRetryMin {
			log.Warn("reading the writer's stdout; trying again until it can be read", "err", err)
		} else if err != nil {
			log.Debug("reading the writer's stdout; trying again", "err", err, "in", retry)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(retry):
		}
		retry = min(2*retry, feedRetryMax)
	}
}

// feedOnce makes one attempt: it waits for the writer src to have started,
// then copies its stdout from the first byte, following it, through out,
// which skips what earlier attempts wrote. It reports whether the feed is
// complete: the copy reached the end of the log of a writer that has ended
// for good. A copy can also end early (the writer's agent restarted before
// adopting it, say): the writer then has not ended, and false comes back.
func (a *Agent) feedOnce(ctx context.Context, src model.GPID, out *replay) (bool, error) {
	p, err := a.store.WaitStarted(ctx, src, feedStartWait)
	if err != nil {
		return false, err
	}
	if p.State == model.StatePending || p.State == model.StateStarting {
		return false, nil // not started yet, so no log to read: wait again
	}
	out.seen = 0
	opts := apiserver.LogsOptions{Follow: true, Tail: -1, Streams: []string{"stdout"}}
	err = a.logsOf(ctx, p, opts, func(stream string, b []byte) error {
		if stream != "stdout" {
			return nil
		}
		_, err := out.Write(b)
		return err
	})
	if err != nil {
		return false, err
	}
	p, _, err = a.store.Get(ctx, src)
	if err != nil {
		return false, err
	}
	return p.State.Ended(), nil
}

// readerGone logs the end of a feed whose reader no longer reads: quietly
// when it closed its end of the pipe or ended.
func readerGone(log *slog.Logger, err error) {
	if errors.Is(err, syscall.EPIPE) || errors.Is(err, os.ErrClosed) {
		log.Debug("the reader closed its stdin; feeding stops", "err", err)
		return
	}
	log.Warn("writing the reader's stdin", "err", err)
}

// A replay writes to w the bytes of one attempt after those that earlier
// attempts wrote: each attempt reads the writer's log from its first byte.
// It is used by one goroutine.
type replay struct {
	w       io.Writer
	written int64 // bytes written to w, over every attempt
	seen    int64 // bytes given to Write in this attempt
	err     error // w's first error: the reader is gone
}

func (r *replay) Write(b []byte) (int, error) {
	n := len(b)
	skip := min(max(r.written-r.seen, 0), int64(n))
	if skip == int64(n) {
		r.seen += skip
		return n, nil
	}
	m, err := r.w.Write(b[skip:])
	r.written += int64(m)
	r.seen += skip + int64(m)
	if err != nil {
		r.err = err
		return int(skip) + m, err
	}
	return n, nil
}
