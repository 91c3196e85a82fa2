package supervisor

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/creack/pty"

	"github.com/nefele/nefele/internal/model"
)

// Attach says how an attached (exec) process is wired to its caller.
type Attach struct {
	// TTY gives the process a pseudo-terminal of Rows x Cols; its stdout
	// and stderr then merge into Stdout.
	TTY        bool
	Rows, Cols uint16
	// Stdin makes the process read what Session.WriteStdin sends; without
	// it the process reads /dev/null.
	Stdin bool
	// Stdout and Stderr receive the output as it comes, besides the log
	// files. Each is called from one goroutine at a time.
	Stdout, Stderr io.Writer
}

// attachment is the parent's side of an attached process's stdio.
type attachment struct {
	cfg     Attach
	stdinMu sync.Mutex // guards stdin
	stdin   *os.File   // pipe write end, or the PTY master
	readers []*os.File // pipe read ends, or the PTY master
	logs    []*os.File
	copying sync.WaitGroup
}

// Session is a running attached process.
type Session struct {
	p *proc
}

// Exec starts rec attached as att describes and returns once it runs.
func (s *Supervisor) Exec(ctx context.Context, rec model.Process, att Attach) (*Session, model.Process, error) {
	p, fresh, err := s.add(rec)
	if err != nil {
		return nil, rec, err
	}
	if !fresh {
		return nil, p.record(), fmt.Errorf("exec %s: already managed", rec.GPID)
	}
	p.attach = &attachment{cfg: att}
	started := make(chan result, 1)
	s.wg.Add(1)
	go p.own(started, nil)
	select {
	case r := <-started:
		return &Session{p: p}, r.rec, r.err
	case <-ctx.Done():
		return &Session{p: p}, p.record(), ctx.Err()
	}
}

// GPID returns the process's GPID.
func (ss *Session) GPID() model.GPID { return ss.p.rec.GPID }

// WriteStdin sends b to the process's stdin.
func (ss *Session) WriteStdin(b []byte) error {
	a := ss.p.attach
	a.stdinMu.Lock()
	defer a.stdinMu.Unlock()
	if a.stdin == nil {
		return fmt.Errorf("exec %s: stdin is closed", ss.p.rec.GPID)
	}
	_, err := a.stdin.Write(b)
	return err
}

// CloseStdin gives the process end of file on its stdin (^D on a terminal).
func (ss *Session) CloseStdin() error {
	a := ss.p.attach
	if a.cfg.TTY {
		return ss.WriteStdin([]byte{4})
	}
	a.closeStdin()
	return nil
}

// Resize sets the window size of the process's terminal.
func (ss *Session) Resize(rows, cols uint16) error {
	a := ss.p.attach
	if !a.cfg.TTY || len(a.readers) == 0 {
		return nil
	}
	return pty.Setsize(a.readers[0], &pty.Winsize{Rows: rows, Cols: cols})
}

// Done is closed when the process has ended and its output was delivered.
func (ss *Session) Done() <-chan struct{} { return ss.p.done }

// Record returns the process's current record (its final one after Done).
func (ss *Session) Record() model.Process { return ss.p.record() }

// Hangup ends the process because its caller went away: its stop signal,
// a grace of 2 s, then SIGKILL.
func (ss *Session) Hangup(ctx context.Context) {
	ss.p.command(ctx, command{kind: cmdStop, timeout: 2 * time.Second, reason: "exec session ended"})
}

// open makes the child's stdio and returns it with the files the parent
// closes once the child has them. The agent writes the log files.
func (a *attachment) open(logs logPair) (files, closeAfter []*os.File, err error) {
	a.logs = []*os.File{logs.out, logs.err}
	if a.cfg.TTY {
		return a.openPTY()
	}
	return a.openPipes()
}

func (a *attachment) openPTY() (files, closeAfter []*os.File, err error) {
	master, tty, err := pty.Open()
	if err != nil {
		return nil, nil, fmt.Errorf("open pty: %w", err)
	}
	rows, cols := a.cfg.Rows, a.cfg.Cols
	if rows == 0 || cols == 0 {
		rows, cols = 24, 80
	}
	pty.Setsize(master, &pty.Winsize{Rows: rows, Cols: cols})
	a.stdin, a.readers = master, []*os.File{master}
	return []*os.File{tty, tty, tty}, []*os.File{tty}, nil
}

func (a *attachment) openPipes() (files, closeAfter []*os.File, err error) {
	var stdin *os.File
	if a.cfg.Stdin {
		r, w, err := os.Pipe()
		if err != nil {
			return nil, nil, err
		}
		stdin, a.stdin = r, w
	} else if stdin, err = os.Open(os.DevNull); err != nil {
		return nil, nil, err
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		return nil, nil, err
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		return nil, nil, err
	}
	a.readers = []*os.File{outR, errR}
	fs := []*os.File{stdin, outW, errW}
	return fs, fs, nil
}

// startCopying starts copying the output to the log files and the caller.
func (a *attachment) startCopying(p *proc) {
	if a == nil {
		return
	}
	sinks := []io.Writer{a.cfg.Stdout, a.cfg.Stderr}
	for i, r := range a.readers {
		a.copying.Add(1)
		go func() {
			defer a.copying.Done()
			copyOut(r, a.logs[i], sinks[i])
		}()
	}
}

// copyOut copies r into the log file and into sink; a failing sink (the
// caller went away) does not stop the log.
func copyOut(r io.Reader, log *os.File, sink io.Writer) {
	buf := make([]byte, 32*1024)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			log.Write(buf[:n])
			if sink != nil {
				if _, werr := sink.Write(buf[:n]); werr != nil {
					sink = nil
				}
			}
		}
		if err != nil {
			return
		}
	}
}

func (a *attachment) closeStdin() {
	if a == nil || a.cfg.TTY {
		return
	}
	a.stdinMu.Lock()
	defer a.stdinMu.Unlock()
	if a.stdin != nil {
		a.stdin.Close()
		a.stdin = nil
	}
}

// closeParent closes the parent's ends after a failed start.
func (a *attachment) closeParent() {
	if a == nil {
		return
	}
	a.closeStdin()
	closeFiles(a.readers)
	closeFiles(a.logs)
	if a.cfg.TTY {
		a.stdin = nil
	}
}

// finish waits, briefly, for the output of the ended run to drain, then
// closes the parent's ends.
func (a *attachment) finish() {
	if a == nil {
		return
	}
	a.closeStdin()
	done := make(chan struct{})
	go func() { a.copying.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		// A leftover holds the output open; the group was killed, so this
		// is a descendant that escaped the group. Stop waiting for it.
	}
	a.stdinMu.Lock()
	a.stdin = nil
	a.stdinMu.Unlock()
	closeFiles(a.readers)
	<-done
	closeFiles(a.logs)
}
