package logfile

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

const (
	// pollInterval is how often Follow looks at the log without being woken
	// by inotify: the safety net for a missed event or no inotify at all.
	pollInterval = 250 * time.Millisecond
	// followChunk is how much Follow reads and writes at a time.
	followChunk = 64 << 10
)

// Follow writes to w every byte appended to the log at path after offset
// from, as soon as it is written: it wakes on inotify events on the live
// file, and every 250ms in case inotify is unavailable or an event is missed.
// from is an offset in the live file: Tail's end, Size, or what an earlier
// Follow returned. If the live file does not exist yet, Follow waits for it.
//
// Follow survives Rotate: when the live file was copied and truncated, it
// first writes the rest of the copy from its old offset, then the new live
// file from 0, so it loses only what Rotate itself loses. It keeps that
// promise across several rotations while the copy it was reading is still
// kept, for instance while it is blocked in w.Write; a follower that falls
// further behind skips what was dropped. A rotation between Tail and the
// start of Follow is detected by the live file being shorter than from; it is
// missed only if the live file has grown past from again by then.
//
// Follow keeps reading the live file it opened: the file must not be
// replaced, only copied and truncated by Rotate.
//
// Follow returns when done is closed (no more output will come, because the
// process has ended for good), after writing what is left, with a nil error;
// when ctx is done, promptly, with ctx.Err(); or when a read or w.Write
// fails, with that error. A nil done means following until ctx is done. It
// returns the offset in the live file up to which it has written, to resume
// from. It leaves no goroutine or file descriptor behind.
func Follow(ctx context.Context, path string, from int64, w io.Writer, done <-chan struct{}) (int64, error) {
	return follow(ctx, path, from, w, done, true)
}

// follow is Follow, with inotify or (for tests of the fallback) without.
func follow(ctx context.Context, path string, from int64, w io.Writer, done <-chan struct{}, useInotify bool) (int64, error) {
	fl := &follower{path: path, w: w, off: from, useInotify: useInotify, buf: make([]byte, followChunk)}
	defer fl.close()
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for {
		if err := fl.catchUp(ctx); err != nil {
			return fl.off, err
		}
		select {
		case <-ctx.Done():
			return fl.off, ctx.Err()
		case <-done:
			err := fl.catchUp(ctx)
			return fl.off, err
		case <-fl.wake():
		case <-tick.C:
		}
	}
}

// A follower is the state of one Follow. It is used by one goroutine.
type follower struct {
	path       string
	w          io.Writer
	useInotify bool
	buf        []byte

	live  *os.File // the live file; nil until it exists
	watch *watcher // inotify on the live file; nil without
	off   int64    // offset in live of the next byte to write
	seen  bool     // whether copy1 has been looked at
	copy1 fileID   // path.1 at the last look
}

// A fileID tells files apart: a rotation always makes a new path.1. The
// modification time guards against a freed inode number being reused.
type fileID struct{ fi os.FileInfo } // fi nil: missing

func statID(name string) fileID {
	fi, err := os.Stat(name)
	if err != nil {
		return fileID{}
	}
	return fileID{fi}
}

func (a fileID) same(b fileID) bool {
	if a.fi == nil || b.fi == nil {
		return a.fi == nil && b.fi == nil
	}
	return os.SameFile(a.fi, b.fi) && a.fi.ModTime().Equal(b.fi.ModTime())
}

// A span is the part of a rotated copy still to be written, from an offset to
// its end; copies are never written again once renamed into place.
type span struct {
	f    *os.File
	from int64
}

// wake returns the channel that receives when the live file was modified;
// nil (never ready) without inotify.
func (fl *follower) wake() <-chan struct{} {
	if fl.watch == nil {
		return nil
	}
	return fl.watch.C
}

func (fl *follower) close() {
	if fl.watch != nil {
		fl.watch.Close()
	}
	if fl.live != nil {
		fl.live.Close()
	}
}

// catchUp writes what the log holds beyond fl.off, until nothing is left.
func (fl *follower) catchUp(ctx context.Context) error {
	if fl.live == nil {
		if err := fl.open(); errors.Is(err, fs.ErrNotExist) {
			return nil
		} else if err != nil {
			return err
		}
	}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		n, spans, err := fl.step()
		if err != nil {
			return err
		}
		if spans != nil {
			if err := fl.drain(ctx, spans); err != nil {
				return err
			}
			continue
		}
		if n == 0 {
			return nil
		}
		if _, err := fl.w.Write(fl.buf[:n]); err != nil {
			return err
		}
		fl.off += int64(n)
	}
}

// open opens the live file and, unless told not to, watches it. The watch is
// set before catchUp reads, so no write after that read goes unnoticed.
func (fl *follower) open() error {
	f, err := os.Open(fl.path)
	if err != nil {
		return err
	}
	fl.live = f
	if fl.useInotify {
		// Without inotify the poll timer still wakes Follow: not an error.
		fl.watch, _ = newWatcher(fl.path)
	}
	return nil
}

// step looks at the log under the shared lock. If the live file was rotated
// since the last look, step moves fl.off to 0 in the new live file and
// returns the spans of the copies that hold the rest of the old one, oldest
// first. Otherwise it reads the bytes after fl.off into fl.buf and returns
// how many, 0 when there are none. Reading under the lock guarantees the bytes
// read are those of the generation fl.off points into.
func (fl *follower) step() (int, []span, error) {
	if err := flock(fl.live, unix.LOCK_SH); err != nil {
		return 0, nil, err
	}
	defer flock(fl.live, unix.LOCK_UN)
	fi, err := fl.live.Stat()
	if err != nil {
		return 0, nil, err
	}
	size, id1 := fi.Size(), statID(copyName(fl.path, 1))
	if size < fl.off || (fl.seen && !id1.same(fl.copy1)) {
		spans, err := fl.rotatedLocked(id1)
		return 0, spans, err
	}
	fl.seen, fl.copy1 = true, id1
	if size == fl.off {
		return 0, nil, nil
	}
	n, err := fl.live.ReadAt(fl.buf[:min(int64(len(fl.buf)), size-fl.off)], fl.off)
	if err == io.EOF { // shrunk without the lock: the next step sees it
		err = nil
	}
	return n, nil, err
}

// rotatedLocked handles a rotation seen by step, which holds the lock:
// path.1 is now id1. It opens the copies written since the last look, sets
// fl.off to 0 and returns the spans still to be written (empty, not nil, when
// no copy was kept).
func (fl *follower) rotatedLocked(id1 fileID) ([]span, error) {
	r := fl.rotations(id1)
	spans := make([]span, 0, r)
	for k := r; k >= 1; k-- {
		f, err := os.Open(copyName(fl.path, k))
		if err != nil {
			closeSpans(spans)
			return nil, err
		}
		spans = append(spans, span{f, 0})
	}
	if r > 0 {
		spans[0].from = fl.off
	}
	fl.off, fl.seen, fl.copy1 = 0, true, id1
	return spans, nil
}

// rotations returns how many rotations happened since the last look, given
// that path.1 is now id1: the number of places the old path.1 moved down;
// when it is gone or there was none, the number of copies now kept; and 1 on
// the first look, when there is no old path.1 to find.
func (fl *follower) rotations(id1 fileID) int {
	switch {
	case id1.fi == nil || fl.seen && id1.same(fl.copy1):
		return 0 // nothing kept (Policy.Files is 1)
	case !fl.seen:
		return 1
	}
	for k := 2; ; k++ {
		if id := statID(copyName(fl.path, k)); id.fi == nil || id.same(fl.copy1) {
			return k - 1
		}
	}
}

// drain writes spans to w and closes them.
func (fl *follower) drain(ctx context.Context, spans []span) error {
	defer closeSpans(spans)
	for _, s := range spans {
		for off := s.from; ; {
			if err := ctx.Err(); err != nil {
				return err
			}
			n, err := s.f.ReadAt(fl.buf, off)
			if n > 0 {
				if _, err := fl.w.Write(fl.buf[:n]); err != nil {
					return err
				}
				off += int64(n)
			}
			if err == io.EOF {
				break
			}
			if err != nil {
				return err
			}
		}
	}
	return nil
}

func closeSpans(spans []span) {
	for _, s := range spans {
		s.f.Close()
	}
}
