package nefele

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"connectrpc.com/connect"

	nefelev1 "github.com/nefele/nefele/api/nefele/v1"
)

// ExecOptions say how to run an attached process.
type ExecOptions struct {
	// Stdin, when not nil, is streamed to the process, EOF included; when
	// nil the process reads /dev/null.
	Stdin io.Reader
	// Stdout and Stderr receive the process's output; nil discards it. With
	// TTY both streams arrive on Stdout, as on a terminal.
	Stdout, Stderr io.Writer
	// TTY gives the process a pseudo-terminal of Rows x Cols.
	TTY        bool
	Rows, Cols uint32
}

// ExitStatus is how an attached process ended.
type ExitStatus struct {
	// Code is the exit code, or -1 when a signal ended the process.
	Code int
	// Signal names the signal that ended the process ("INT"), if one did.
	Signal string
	// Status is what a shell reports: Code, or 128+N for signal N.
	Status int
}

// ExecSession is a running attached process.
type ExecSession struct {
	// Process is the record of the process, as it started.
	Process *Process

	stream *connect.BidiStreamForClient[nefelev1.ExecRequest, nefelev1.ExecResponse]
	sendMu sync.Mutex // guards stream.Send
	done   chan struct{}
	exit   ExitStatus
	err    error
}

// Exec starts spec attached to the caller and returns once it runs. The
// session forwards output until the process ends; Wait returns its status.
// A command that cannot be started returns ErrNotFound or ErrNotExecutable.
func (c *Client) Exec(ctx context.Context, spec *Spec, opts ExecOptions) (*ExecSession, error) {
	stream := c.procs.Exec(ctx)
	start := &nefelev1.ExecStart{Spec: spec, Tty: opts.TTY, Rows: opts.Rows, Cols: opts.Cols, Stdin: opts.Stdin != nil}
	if err := stream.Send(&nefelev1.ExecRequest{Msg: &nefelev1.ExecRequest_Start{Start: start}}); err != nil {
		// io.EOF means the agent ended the stream: its error is in Receive.
		if errors.Is(err, io.EOF) {
			if _, rerr := stream.Receive(); rerr != nil {
				err = rerr
			}
		}
		stream.CloseResponse()
		return nil, c.wrapErr(err)
	}
	first, err := stream.Receive()
	if err != nil {
		return nil, c.wrapErr(err)
	}
	started, ok := first.Msg.(*nefelev1.ExecResponse_Started)
	if !ok {
		return nil, fmt.Errorf("exec: agent sent %T before the process started", first.Msg)
	}
	s := &ExecSession{Process: started.Started, stream: stream, done: make(chan struct{})}
	go s.receive(c, opts.Stdout, opts.Stderr)
	if opts.Stdin != nil {
		go s.pumpStdin(opts.Stdin)
	}
	return s, nil
}

func (s *ExecSession) send(req *nefelev1.ExecRequest) error {
	s.sendMu.Lock()
	defer s.sendMu.Unlock()
	return s.stream.Send(req)
}

func (s *ExecSession) receive(c *Client, stdout, stderr io.Writer) {
	defer close(s.done)
	for {
		msg, err := s.stream.Receive()
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = errors.New("exec: stream ended before the process's exit status arrived")
			}
			s.err = c.wrapErr(err)
			return
		}
		switch m := msg.Msg.(type) {
		case *nefelev1.ExecResponse_Stdout:
			if stdout != nil {
				stdout.Write(m.Stdout)
			}
		case *nefelev1.ExecResponse_Stderr:
			if stderr != nil {
				stderr.Write(m.Stderr)
			}
		case *nefelev1.ExecResponse_Exit:
			s.exit = ExitStatus{Code: int(m.Exit.ExitCode), Signal: m.Exit.Signal, Status: int(m.Exit.Status)}
			s.sendMu.Lock()
			s.stream.CloseRequest()
			s.sendMu.Unlock()
			s.stream.CloseResponse()
			return
		}
	}
}

func (s *ExecSession) pumpStdin(r io.Reader) {
	buf := make([]byte, 32*1024)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			data := append([]byte(nil), buf[:n]...)
			if s.send(&nefelev1.ExecRequest{Msg: &nefelev1.ExecRequest_Stdin{Stdin: data}}) != nil {
				return
			}
		}
		if err != nil {
			s.CloseStdin()
			return
		}
	}
}

// CloseStdin closes the process's stdin (it reads EOF).
func (s *ExecSession) CloseStdin() error {
	return s.send(&nefelev1.ExecRequest{Msg: &nefelev1.ExecRequest_StdinEof{StdinEof: true}})
}

// Signal forwards sig ("INT", "WINCH", "15") to the process tree.
func (s *ExecSession) Signal(sig string) error {
	return s.send(&nefelev1.ExecRequest{Msg: &nefelev1.ExecRequest_Signal{Signal: sig}})
}

// Resize sets the window size of the process's terminal.
func (s *ExecSession) Resize(rows, cols uint32) error {
	return s.send(&nefelev1.ExecRequest{Msg: &nefelev1.ExecRequest_Resize{Resize: &nefelev1.ExecResize{Rows: rows, Cols: cols}}})
}

// Wait blocks until the process has ended and all its output was delivered,
// and returns its exit status. It may be called from several goroutines.
func (s *ExecSession) Wait() (ExitStatus, error) {
	<-s.done
	return s.exit, s.err
}
