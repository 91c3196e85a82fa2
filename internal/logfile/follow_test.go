package logfile

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// A followRun is a Follow running in the background.
type followRun struct {
	out  syncBuffer
	done chan struct{} // closed to tell Follow the output has ended
	ret  chan followResult
}

type followResult struct {
	off int64
	err error
}

// startFollow runs follow(ctx, path, from, …) in a goroutine, writing to run.out.
func startFollow(ctx context.Context, path string, from int64, useInotify bool) *followRun {
	return startFollowTo(ctx, path, from, useInotify, nil)
}

// startFollowTo is startFollow writing to w, or to run.out if w is nil.
func startFollowTo(ctx context.Context, path string, from int64, useInotify bool, w io.Writer) *followRun {
	run := &followRun{done: make(chan struct{}), ret: make(chan followResult, 1)}
	if w == nil {
		w = &run.out
	}
	go func() {
		off, err := follow(ctx, path, from, w, run.done, useInotify)
		run.ret <- followResult{off, err}
	}()
	return run
}

// finish closes done and returns what Follow returned.
func (run *followRun) finish(t *testing.T) followResult {
	t.Helper()
	close(run.done)
	select {
	case r := <-run.ret:
		return r
	case <-time.After(5 * time.Second):
		t.Fatal("Follow did not return after done was closed")
		return followResult{}
	}
}

func (run *followRun) waitOutput(t *testing.T, want string) {
	t.Helper()
	waitFor(t, fmt.Sprintf("output %q", want), func() bool { return run.out.String() == want })
}

// Follow delivers what a real child writes while it runs, and all of it once
// done is closed.
func TestFollowChildProcess(t *testing.T) {
	path := logPath(t)
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sh", "-c", "echo 1; read x; for i in 2 3; do echo $i; done")
	cmd.Stdout = f
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	run := startFollow(t.Context(), path, 0, true)

	run.waitOutput(t, "1\n") // the child is blocked in read: delivered live
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	r := run.finish(t)
	if r.err != nil || r.off != 6 {
		t.Errorf("Follow = %d, %v; want 6, nil", r.off, r.err)
	}
	if got := run.out.String(); got != "1\n2\n3\n" {
		t.Errorf("output = %q, want %q", got, "1\n2\n3\n")
	}
}

// The child writes on its own schedule; Follow returns with all of it.
func TestFollowChildLoop(t *testing.T) {
	path := logPath(t)
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	run := startFollow(t.Context(), path, 0, true)
	cmd := exec.Command("sh", "-c", "for i in 1 2 3; do echo $i; sleep 0.05; done")
	cmd.Stdout = f
	err = cmd.Run()
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	if r := run.finish(t); r.err != nil || r.off != 6 || run.out.String() != "1\n2\n3\n" {
		t.Errorf("Follow = %d, %v, output %q; want 6, nil, %q", r.off, r.err, run.out.String(), "1\n2\n3\n")
	}
}

// Without inotify, the poll timer alone delivers the output.
func TestFollowPolling(t *testing.T) {
	path := logPath(t)
	appendFile(t, path, "before\n")
	run := startFollow(t.Context(), path, 0, false)
	run.waitOutput(t, "before\n") // Follow is past its first look
	appendFile(t, path, "after\n")
	run.waitOutput(t, "before\nafter\n")
	if r := run.finish(t); r.err != nil || r.off != int64(len("before\nafter\n")) {
		t.Errorf("Follow = %d, %v", r.off, r.err)
	}
}

// Follow waits for a missing live file to appear.
func TestFollowMissingFile(t *testing.T) {
	path := logPath(t)
	run := startFollow(t.Context(), path, 0, true)
	appendFile(t, path, "hello\n")
	run.waitOutput(t, "hello\n")
	if r := run.finish(t); r.err != nil {
		t.Error(r.err)
	}
}

// Rotations in the middle of a Follow lose nothing when no write races the
// truncate.
func TestFollowAcrossRotate(t *testing.T) {
	for _, files := range []int{1, 2, 3} {
		t.Run(fmt.Sprintf("files=%d", files), func(t *testing.T) {
			path := logPath(t)
			p := Policy{MaxBytes: 8, Files: files}
			appendFile(t, path, "line 0\n")
			run := startFollow(t.Context(), path, 0, true)
			var want strings.Builder
			want.WriteString("line 0\n")
			run.waitOutput(t, want.String())
			for i := 1; i <= 6; i++ {
				line := fmt.Sprintf("line %d\n", i)
				appendFile(t, path, line)
				want.WriteString(line)
				run.waitOutput(t, want.String())
				if i%2 == 0 {
					if ok, err := Rotate(path, p); !ok || err != nil {
						t.Fatalf("Rotate = %v, %v", ok, err)
					}
				}
			}
			appendFile(t, path, "last\n")
			want.WriteString("last\n")
			r := run.finish(t)
			if r.err != nil || r.off != Size(path) {
				t.Errorf("Follow = %d, %v; want %d, nil", r.off, r.err, Size(path))
			}
			if got := run.out.String(); got != want.String() {
				t.Errorf("output = %q, want %q", got, want.String())
			}
		})
	}
}

// A rotation between Tail and Follow is caught up from the copy.
func TestTailThenFollowAcrossRotate(t *testing.T) {
	path := logPath(t)
	appendFile(t, path, "a\nb\n")
	data, end, err := Tail(path, 1)
	if err != nil || string(data) != "b\n" || end != 4 {
		t.Fatalf("Tail = %q, %d, %v", data, end, err)
	}
	appendFile(t, path, "c\n")
	if ok, err := Rotate(path, Policy{MaxBytes: 1, Files: 2}); !ok || err != nil {
		t.Fatalf("Rotate = %v, %v", ok, err)
	}
	appendFile(t, path, "d\n")
	run := startFollow(t.Context(), path, end, true)
	if r := run.finish(t); r.err != nil || r.off != 2 || run.out.String() != "c\nd\n" {
		t.Errorf("Follow = %d, %v, output %q; want 2, nil, %q", r.off, r.err, run.out.String(), "c\nd\n")
	}
}

// A gateWriter blocks its first Write until released.
type gateWriter struct {
	syncBuffer
	once     sync.Once
	blocked  chan struct{} // closed when the first Write is blocked
	released chan struct{} // closed to let it go on
}

func (g *gateWriter) Write(p []byte) (int, error) {
	g.once.Do(func() {
		close(g.blocked)
		<-g.released
	})
	return g.syncBuffer.Write(p)
}

// A follower blocked in Write while the log is rotated twice resumes in the
// right copy and loses nothing.
func TestFollowBehindTwoRotations(t *testing.T) {
	for _, old := range []bool{false, true} {
		t.Run(fmt.Sprintf("old copy %v", old), func(t *testing.T) {
			path := logPath(t)
			p := Policy{MaxBytes: 4, Files: 4}
			if old { // then the follower finds its place by the old path.1
				appendFile(t, path, "old\nold\n")
				Rotate(path, p)
			}
			appendFile(t, path, "g0-a\n")
			g := &gateWriter{blocked: make(chan struct{}), released: make(chan struct{})}
			run := startFollowTo(t.Context(), path, 0, true, g)
			<-g.blocked
			appendFile(t, path, "g0-b\n")
			Rotate(path, p)
			appendFile(t, path, "g1-a\n")
			Rotate(path, p)
			appendFile(t, path, "g2-a\n")
			close(g.released)
			r := run.finish(t)
			want := "g0-a\ng0-b\ng1-a\ng2-a\n"
			if r.err != nil || r.off != 5 || g.String() != want {
				t.Errorf("Follow = %d, %v, output %q; want 5, nil, %q", r.off, r.err, g.String(), want)
			}
		})
	}
}

// openFDs counts this process's open file descriptors.
func openFDs(t *testing.T) int {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd:", err)
	}
	return len(entries)
}

// Cancelling ctx makes Follow return ctx.Err() promptly, leaving no goroutine
// or file descriptor behind.
func TestFollowCancel(t *testing.T) {
	path := logPath(t)
	appendFile(t, path, "x\n")
	goroutines, fds := runtime.NumGoroutine(), openFDs(t)

	ctx, cancel := context.WithCancel(t.Context())
	run := startFollow(ctx, path, 0, true)
	run.waitOutput(t, "x\n")
	cancel()
	select {
	case r := <-run.ret:
		if !errors.Is(r.err, context.Canceled) || r.off != 2 {
			t.Errorf("Follow = %d, %v; want 2, context.Canceled", r.off, r.err)
		}
	case <-time.After(time.Second):
		t.Fatal("Follow did not return within a second of cancel")
	}
	waitFor(t, "goroutines to end", func() bool { return runtime.NumGoroutine() <= goroutines })
	if n := openFDs(t); n > fds {
		t.Errorf("%d file descriptors open after Follow, %d before", n, fds)
	}
}

// A failing writer ends Follow with its error.
func TestFollowWriteError(t *testing.T) {
	path := logPath(t)
	appendFile(t, path, "x\n")
	boom := errors.New("boom")
	off, err := Follow(t.Context(), path, 0, failWriter{boom}, nil)
	if !errors.Is(err, boom) || off != 0 {
		t.Errorf("Follow = %d, %v; want 0, %v", off, err, boom)
	}
}

type failWriter struct{ err error }

func (f failWriter) Write([]byte) (int, error) { return 0, f.err }

// With a writer racing the rotations, Follow loses the lines written in the
// window before a truncate (see Rotate), but never repeats or reorders one.
// The window may cut a line: its start then runs into the next whole line.
func TestFollowRacingRotate(t *testing.T) {
	path := logPath(t)
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	const lines, every = 20_000, 500
	fmt.Fprintf(f, "start\n")
	run := startFollow(t.Context(), path, 0, true)
	run.waitOutput(t, "start\n") // then Follow has had its first look
	rotate := make(chan struct{}, lines/every)
	go func() { // writes as fast as it can, asking for a rotation now and then
		defer close(rotate)
		for i := range lines {
			fmt.Fprintf(f, "%06d\n", i)
			if i%every == every-1 {
				rotate <- struct{}{}
			}
		}
	}()
	rotations := 0
	for range rotate { // each Rotate races the writes that follow the request
		if ok, err := Rotate(path, Policy{MaxBytes: 1 << 10, Files: 10}); err != nil {
			t.Fatal(err)
		} else if ok {
			rotations++
		}
	}
	if r := run.finish(t); r.err != nil {
		t.Fatal(r.err)
	}
	got := strings.Split(strings.TrimSuffix(strings.TrimPrefix(run.out.String(), "start\n"), "\n"), "\n")
	prev, cut := -1, 0
	for _, line := range got {
		if len(line) > 6 {
			line, cut = line[len(line)-6:], cut+1
		}
		n, err := strconv.Atoi(line)
		if err != nil || len(line) != 6 || n <= prev {
			t.Fatalf("line %q after %d: want six digits, increasing", line, prev)
		}
		prev = n
	}
	if prev != lines-1 {
		t.Errorf("last line %d, want %d", prev, lines-1)
	}
	if cut > rotations {
		t.Errorf("%d lines cut, more than the %d rotations", cut, rotations)
	}
	t.Logf("%d rotations: %d of %d lines lost in their windows, %d cut", rotations, lines-len(got), lines, cut)
}
