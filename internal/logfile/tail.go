package logfile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"

	"golang.org/x/sys/unix"
)

// tailBlock is how much Tail reads at a time, walking backwards.
const tailBlock = 64 << 10

// Tail returns the last n lines of the log at path, reading its rotated
// copies and its live file as one stream, oldest first: path.k, …, path.1,
// path, where path.k is the last of path.1, path.2, … that exists. n < 0
// returns everything and n == 0 nothing. A last line without a newline counts
// as a line, and a line cut between a copy and the next file is one line.
// Missing files read as empty.
//
// end is the size of the live file when Tail read it: data ends at that
// offset, and Follow(ctx, path, end, …) continues right after it, without
// losing or repeating what is written or rotated in between (see Follow for
// the limits).
//
// Tail reads backwards in blocks, so its cost grows with what it returns,
// not with the size of the files. It holds the log's lock shared while it
// reads, so it never sees a rotation half done.
func Tail(path string, n int) (data []byte, end int64, err error) {
	live, err := os.Open(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		live = nil // no live file, no rotation to fear: read the copies as they are
	case err != nil:
		return nil, 0, fmt.Errorf("tail: %w", err)
	default:
		defer live.Close() // also releases the lock
		if err := flock(live, unix.LOCK_SH); err != nil {
			return nil, 0, fmt.Errorf("tail %s: lock: %w", path, err)
		}
	}
	copies, err := openCopies(path)
	defer closeAll(copies)
	if err != nil {
		return nil, 0, fmt.Errorf("tail: %w", err)
	}
	segs, end, err := segments(copies, live)
	if err != nil {
		return nil, 0, fmt.Errorf("tail: %w", err)
	}
	data, err = lastLines(segs, n, tailBlock)
	if err != nil {
		return nil, 0, fmt.Errorf("tail %s: %w", path, err)
	}
	return data, end, nil
}

// Size returns the size of the live file of the log at path, or 0 if it
// cannot be read. Tail's end is the better start for Follow when the lines
// before it are wanted too.
func Size(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// A segment is one file of a log, up to the size it had when opened.
type segment struct {
	r    io.ReaderAt
	size int64
}

// openCopies opens the rotated copies of the log at path, path.1, path.2, …
// up to the first missing one, and returns them oldest first. On error it
// returns those it opened, for the caller to close.
func openCopies(path string) ([]*os.File, error) {
	var files []*os.File
	for k := 1; ; k++ {
		f, err := os.Open(copyName(path, k))
		if errors.Is(err, fs.ErrNotExist) {
			break
		}
		if err != nil {
			return files, err
		}
		files = append(files, f)
	}
	slices.Reverse(files)
	return files, nil
}

// segments returns the segments of copies and of live (if not nil) at their
// current sizes, and the size of live.
func segments(copies []*os.File, live *os.File) ([]segment, int64, error) {
	files := copies
	if live != nil {
		files = append(slices.Clip(copies), live)
	}
	segs := make([]segment, len(files))
	for i, f := range files {
		fi, err := f.Stat()
		if err != nil {
			return nil, 0, err
		}
		segs[i] = segment{f, fi.Size()}
	}
	if live == nil {
		return segs, 0, nil
	}
	return segs, segs[len(segs)-1].size, nil
}

func closeAll(files []*os.File) {
	for _, f := range files {
		f.Close()
	}
}

// lastLines returns the last n lines (all if n < 0) of the concatenation of
// segs, reading backwards block bytes at a time. The lines start after the
// n-th newline counted back from the end, not counting the very last byte: a
// newline there ends the last line rather than starting an empty one.
func lastLines(segs []segment, n, block int) ([]byte, error) {
	if n == 0 {
		return nil, nil
	}
	var chunks [][]byte // what to return, newest first
	last := true        // the stream's last byte is yet to be read
	for i := len(segs) - 1; i >= 0; i-- {
		for end := segs[i].size; end > 0; {
			start := max(end-int64(block), 0)
			buf := make([]byte, end-start)
			if _, err := segs[i].r.ReadAt(buf, start); err != nil {
				return nil, err
			}
			end = start
			search := buf
			if last {
				search, last = buf[:len(buf)-1], false
			}
			for n > 0 {
				j := bytes.LastIndexByte(search, '\n')
				if j < 0 {
					break
				}
				n--
				if n == 0 {
					return concatReversed(append(chunks, buf[j+1:])), nil
				}
				search = search[:j]
			}
			chunks = append(chunks, buf)
		}
	}
	return concatReversed(chunks), nil
}

// concatReversed returns the concatenation of chunks, last first.
func concatReversed(chunks [][]byte) []byte {
	size := 0
	for _, c := range chunks {
		size += len(c)
	}
	out := make([]byte, 0, size)
	for i := len(chunks) - 1; i >= 0; i-- {
		out = append(out, chunks[i]...)
	}
	return out
}
