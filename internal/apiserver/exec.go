package apiserver

import (
	"context"
	"sync"

	"connectrpc.com/connect"

	nefelev1 "github.com/nefele/nefele/api/nefele/v1"
	"github.com/nefele/nefele/internal/model"
)

// execStream serializes sends on one Exec stream and holds output back until
// the started message has gone out.
type execStream struct {
	stream *connect.BidiStream[nefelev1.ExecRequest, nefelev1.ExecResponse]
	mu     sync.Mutex // guards stream.Send
	ready  chan struct{}
}

func (e *execStream) send(msg *nefelev1.ExecResponse) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.stream.Send(msg)
}

// outWriter sends output of one stream (stdout when !stderr).
type outWriter struct {
	e      *execStream
	stderr bool
}

func (w outWriter) Write(b []byte) (int, error) {
	<-w.e.ready
	data := append([]byte(nil), b...)
	msg := &nefelev1.ExecResponse{Msg: &nefelev1.ExecResponse_Stdout{Stdout: data}}
	if w.stderr {
		msg = &nefelev1.ExecResponse{Msg: &nefelev1.ExecResponse_Stderr{Stderr: data}}
	}
	if err := w.e.send(msg); err != nil {
		return 0, err
	}
	return len(b), nil
}

// Exec implements ProcessService.Exec.
func (s *Server) Exec(ctx context.Context, stream *connect.BidiStream[nefelev1.ExecRequest, nefelev1.ExecResponse]) error {
	first, err := stream.Receive()
	if err != nil {
		return toWire(model.Invalid("", "exec: the stream ended before its start message"))
	}
	start := first.GetStart()
	if start == nil {
		return toWire(model.Invalid("", "exec: the first message must be start"))
	}
	spec, err := specFromWire(start.Spec)
	if err != nil {
		return toWire(err)
	}
	es := &execStream{stream: stream, ready: make(chan struct{})}
	opts := ExecOptions{TTY: start.Tty, Rows: uint16(start.Rows), Cols: uint16(start.Cols), Stdin: start.Stdin,
		Stdout: outWriter{e: es}, Stderr: outWriter{e: es, stderr: true}}
	sess, rec, err := s.b.Exec(ctx, spec, opts)
	if err != nil {
		close(es.ready)
		return toWire(err)
	}
	if err := es.send(&nefelev1.ExecResponse{Msg: &nefelev1.ExecResponse_Started{Started: processToWire(rec)}}); err != nil {
		close(es.ready)
		sess.Hangup(context.WithoutCancel(ctx))
		return err
	}
	close(es.ready)
	go s.execInput(ctx, stream, sess)
	<-sess.Done()
	final := sess.Record()
	exit := &nefelev1.ExecExit{ExitCode: -1, Status: 1}
	if final.Exit != nil {
		exit = &nefelev1.ExecExit{ExitCode: int32(final.Exit.Code), Signal: final.Exit.Signal, Status: int32(final.Exit.ShellStatus())}
	}
	return es.send(&nefelev1.ExecResponse{Msg: &nefelev1.ExecResponse_Exit{Exit: exit}})
}

// execInput carries the caller's stdin, signals and resizes to the process;
// when the caller goes away first, the process is hung up.
func (s *Server) execInput(ctx context.Context, stream *connect.BidiStream[nefelev1.ExecRequest, nefelev1.ExecResponse], sess ExecSession) {
	for {
		msg, err := stream.Receive()
		if err != nil {
			select {
			case <-sess.Done():
			default:
				if ctx.Err() != nil {
					sess.Hangup(context.WithoutCancel(ctx))
				}
			}
			return
		}
		switch m := msg.Msg.(type) {
		case *nefelev1.ExecRequest_Stdin:
			sess.WriteStdin(m.Stdin)
		case *nefelev1.ExecRequest_StdinEof:
			sess.CloseStdin()
		case *nefelev1.ExecRequest_Signal:
			sess.Signal(m.Signal)
		case *nefelev1.ExecRequest_Resize:
			sess.Resize(uint16(m.Resize.Rows), uint16(m.Resize.Cols))
		}
	}
}
