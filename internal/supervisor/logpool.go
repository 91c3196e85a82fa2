package supervisor

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nefele/nefele/internal/logfile"
)

// logPool keeps pairs of log files created ahead of need. Creating a file
// is a journaled metadata change; on a disk that etcd keeps busy with fsyncs
// it can take a millisecond or more, so no file is created on the spawn path
// while the pool has a pair. A process keeps its pair for good (its record
// names it), across restarts in place.
type logPool struct {
	dir    string
	prefix string // unique per supervisor run, so names never collide
	seq    atomic.Uint64
	ready  chan logPair
}

// logPair is the stdout and stderr log of one process, open for writing.
type logPair struct {
	id       string
	out, err *os.File
}

const poolSize = 16

func newLogPool(dir string) *logPool {
	return &logPool{dir: dir, prefix: "l" + strconv.FormatInt(time.Now().UnixNano(), 36), ready: make(chan logPair, poolSize)}
}

// path returns the log file of one stream of log id.
func (lp *logPool) path(id, stream string) string {
	return filepath.Join(lp.dir, id+"."+stream+".log")
}

// fill keeps the pool full until ctx is done, then removes the unused pairs.
func (lp *logPool) fill(ctx context.Context) {
	for {
		pair, err := lp.create()
		if err != nil {
			select {
			case <-ctx.Done():
				lp.drain()
				return
			case <-time.After(time.Second):
				continue
			}
		}
		select {
		case lp.ready <- pair:
		case <-ctx.Done():
			lp.discard(pair)
			lp.drain()
			return
		}
	}
}

func (lp *logPool) drain() {
	for {
		select {
		case pair := <-lp.ready:
			lp.discard(pair)
		default:
			return
		}
	}
}

func (lp *logPool) discard(pair logPair) {
	pair.out.Close()
	pair.err.Close()
	os.Remove(pair.out.Name())
	os.Remove(pair.err.Name())
}

func (lp *logPool) create() (logPair, error) {
	id := lp.prefix + "-" + strconv.FormatUint(lp.seq.Add(1), 36)
	return lp.open(id)
}

// open opens (creating if needed) the pair of log id.
func (lp *logPool) open(id string) (logPair, error) {
	out, err := logfile.Open(lp.path(id, "stdout"))
	if err != nil {
		return logPair{}, err
	}
	errf, err := logfile.Open(lp.path(id, "stderr"))
	if err != nil {
		out.Close()
		return logPair{}, err
	}
	return logPair{id: id, out: out, err: errf}, nil
}

// take returns a fresh pair from the pool, or creates one when it is empty.
func (lp *logPool) take() (logPair, error) {
	select {
	case pair := <-lp.ready:
		return pair, nil
	default:
		return lp.create()
	}
}

// clean removes empty log files that no record names: pairs that were in
// the pool when an earlier agent was killed.
func (lp *logPool) clean(inUse map[string]bool) error {
	entries, err := os.ReadDir(lp.dir)
	if err != nil {
		return fmt.Errorf("clean logs: %w", err)
	}
	for _, e := range entries {
		id, _, ok := strings.Cut(e.Name(), ".")
		if !ok || inUse[id] || strings.HasPrefix(id, lp.prefix) {
			continue
		}
		if info, err := e.Info(); err == nil && info.Mode().IsRegular() && info.Size() == 0 {
			os.Remove(filepath.Join(lp.dir, e.Name()))
		}
	}
	return nil
}
