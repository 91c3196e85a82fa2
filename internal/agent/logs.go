package agent

import (
	"context"
	"errors"
	"sync"

	"github.com/nefele/nefele/internal/apiserver"
	"github.com/nefele/nefele/internal/logfile"
	"github.com/nefele/nefele/internal/model"
	nefele "github.com/nefele/nefele/sdk"
)

const logChunk = 64 << 10

// sendFunc adapts a send callback of one stream to an io.Writer.
type sendFunc func([]byte) error

func (f sendFunc) Write(b []byte) (int, error) {
	for off := 0; off < len(b); off += logChunk {
		end := min(off+logChunk, len(b))
		if err := f(append([]byte(nil), b[off:end]...)); err != nil {
			return off, err
		}
	}
	return len(b), nil
}

// Logs implements apiserver.Backend: the last lines of each stream of each
// process target names, then, with follow, what they write next until they
// end for good. The logs of a process on another node come from its agent.
func (a *Agent) Logs(ctx context.Context, target string, opts apiserver.LogsOptions, send func(string, []byte) error) error {
	procs, err := a.Resolve(ctx, target)
	if err != nil {
		return err
	}
	if !opts.Follow {
		for _, p := range procs {
			if err := a.logsOf(ctx, p, opts, send); err != nil {
				return err
			}
		}
		return nil
	}
	errs := make(chan error, len(procs))
	var wg sync.WaitGroup
	for _, p := range procs {
		wg.Go(func() { errs <- a.logsOf(ctx, p, opts, send) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// logsOf sends the logs of one process.
func (a *Agent) logsOf(ctx context.Context, p model.Process, opts apiserver.LogsOptions, send func(string, []byte) error) error {
	if p.Node != a.node.Name {
		return a.remoteLogs(ctx, p, opts, send)
	}
	if !opts.Follow {
		for _, stream := range opts.Streams {
			if opts.Tail == 0 {
				continue
			}
			if _, err := a.tail(p, stream, opts.Tail, send); err != nil {
				return err
			}
		}
		return nil
	}
	var wg sync.WaitGroup
	errs := make([]error, len(opts.Streams))
	for i, stream := range opts.Streams {
		wg.Go(func() { errs[i] = a.follow(ctx, p, stream, opts.Tail, send) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// remoteLogs relays the logs of p from the agent of its node.
func (a *Agent) remoteLogs(ctx context.Context, p model.Process, opts apiserver.LogsOptions, send func(string, []byte) error) error {
	c, err := a.peer(ctx, p.Node)
	if err != nil {
		return err
	}
	o := nefele.LogsOptions{Follow: opts.Follow, Tail: opts.Tail, NewOnly: opts.Tail == 0}
	if len(opts.Streams) == 1 {
		o.Stream = nefele.LogStdout
		if opts.Streams[0] == "stderr" {
			o.Stream = nefele.LogStderr
		}
	}
	stdout := sendFunc(func(b []byte) error { return send("stdout", b) })
	stderr := sendFunc(func(b []byte) error { return send("stderr", b) })
	if err := c.Logs(ctx, string(p.GPID), o, stdout, stderr); err != nil {
		return remoteErr(err)
	}
	return nil
}

// tail sends the last n lines of one stream and returns the live file's
// offset where they end.
func (a *Agent) tail(p model.Process, stream string, n int, send func(string, []byte) error) (int64, error) {
	data, end, err := logfile.Tail(a.sup.LogPath(p, stream), n)
	if err != nil {
		return 0, err
	}
	if len(data) > 0 {
		if _, err := (sendFunc(func(b []byte) error { return send(stream, b) })).Write(data); err != nil {
			return 0, err
		}
	}
	return end, nil
}

func (a *Agent) follow(ctx context.Context, p model.Process, stream string, n int, send func(string, []byte) error) error {
	end, err := a.tail(p, stream, n, send)
	if err != nil {
		return err
	}
	w := sendFunc(func(b []byte) error { return send(stream, b) })
	_, err = logfile.Follow(ctx, a.sup.LogPath(p, stream), end, w, a.sup.Done(p.GPID))
	return err
}
