package agent

import (
	"context"
	"sync"

	"github.com/nefele/nefele/internal/apiserver"
	"github.com/nefele/nefele/internal/logfile"
	"github.com/nefele/nefele/internal/model"
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
// end for good.
func (a *Agent) Logs(ctx context.Context, target string, opts apiserver.LogsOptions, send func(string, []byte) error) error {
	procs, err := a.Resolve(ctx, target)
	if err != nil {
		return err
	}
	for _, p := range procs {
		if err := a.local(p); err != nil {
			return err
		}
	}
	if opts.Tail == 0 && !opts.Follow {
		return nil
	}
	if !opts.Follow {
		for _, p := range procs {
			for _, stream := range opts.Streams {
				if _, err := a.tail(p, stream, opts.Tail, send); err != nil {
					return err
				}
			}
		}
		return nil
	}
	var wg sync.WaitGroup
	errs := make(chan error, len(procs)*len(opts.Streams))
	for _, p := range procs {
		for _, stream := range opts.Streams {
			wg.Go(func() { errs <- a.follow(ctx, p, stream, opts.Tail, send) })
		}
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
