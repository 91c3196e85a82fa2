package agent

import (
	"context"
	"fmt"
	"io"

	"github.com/nefele/nefele/internal/apiserver"
	"github.com/nefele/nefele/internal/model"
	"github.com/nefele/nefele/internal/supervisor"
	nefele "github.com/nefele/nefele/sdk"
)

// Exec implements apiserver.Backend: it records an attached process and
// starts it here, wired to the caller's stream.
func (a *Agent) Exec(ctx context.Context, spec model.Spec, opts apiserver.ExecOptions) (apiserver.ExecSession, model.Process, error) {
	spec.Restart, spec.MaxRestarts = model.RestartNever, 0
	if spec.StdinFrom != "" {
		return nil, model.Process{}, model.Invalid(spec.StdinFrom, "stdin from "+spec.StdinFrom+": exec wires stdin to its caller; use run for a process that reads another's stdout")
	}
	if err := spec.Validate(false); err != nil {
		return nil, model.Process{}, err
	}
	picks, err := a.place(spec, "", 1)
	if err != nil {
		return nil, model.Process{}, err
	}
	if picks[0] != a.node.Name {
		spec.Node = picks[0]
		return a.remoteExec(ctx, picks[0], spec, opts)
	}
	procs, err := a.newRecords(ctx, "", 1, spec, false)
	if err != nil {
		return nil, model.Process{}, err
	}
	if err := a.reserve(spec.Resources, procs[0].GPID); err != nil {
		return nil, model.Process{}, err
	}
	defer a.release(procs[0].GPID)
	procs[0].Attached = true
	if err := a.store.Create(ctx, "", 0, procs); err != nil {
		return nil, model.Process{}, err
	}
	sess, rec, err := a.sup.Exec(ctx, procs[0], supervisor.Attach{
		TTY: opts.TTY, Rows: opts.Rows, Cols: opts.Cols, Stdin: opts.Stdin,
		Stdout: opts.Stdout, Stderr: opts.Stderr,
	})
	if err != nil {
		return nil, rec, err
	}
	return execSession{Session: sess, sup: a.sup}, rec, nil
}

// execSession adds signals to a supervisor session.
type execSession struct {
	*supervisor.Session
	sup *supervisor.Supervisor
}

// Signal forwards sig to the process tree.
func (s execSession) Signal(sig string) error { return s.sup.Signal(s.GPID(), sig) }

// remoteExec relays an exec placed on another node to that node's agent:
// output, stdin, signals, resizes and the exit all pass through this agent.
func (a *Agent) remoteExec(ctx context.Context, node string, spec model.Spec, opts apiserver.ExecOptions) (apiserver.ExecSession, model.Process, error) {
	c, err := a.peer(ctx, node)
	if err != nil {
		return nil, model.Process{}, err
	}
	ctx, cancel := context.WithCancel(ctx)
	r := &remoteSession{a: a, done: make(chan struct{}), cancel: cancel}
	eo := nefele.ExecOptions{Stdout: opts.Stdout, Stderr: opts.Stderr, TTY: opts.TTY, Rows: uint32(opts.Rows), Cols: uint32(opts.Cols)}
	if opts.Stdin {
		var pr *io.PipeReader
		pr, r.stdin = io.Pipe()
		eo.Stdin = pr
	}
	sess, err := c.Exec(ctx, apiserver.SpecToWire(spec), eo)
	if err != nil {
		cancel()
		return nil, model.Process{}, remoteErr(err)
	}
	r.sess, r.gpid = sess, model.GPID(sess.Process.Gpid)
	go func() {
		sess.Wait()
		close(r.done)
		cancel()
	}()
	rec, _, err := a.store.Get(ctx, r.gpid)
	return r, rec, err
}

// remoteSession is an exec session relayed to the agent of another node.
type remoteSession struct {
	a      *Agent
	sess   *nefele.ExecSession
	gpid   model.GPID
	stdin  *io.PipeWriter // nil without stdin
	done   chan struct{}
	cancel context.CancelFunc
}

func (r *remoteSession) WriteStdin(b []byte) error {
	if r.stdin == nil {
		return fmt.Errorf("exec %s: no stdin", r.gpid)
	}
	_, err := r.stdin.Write(b)
	return err
}

func (r *remoteSession) CloseStdin() error {
	if r.stdin == nil {
		return nil
	}
	return r.stdin.Close()
}

func (r *remoteSession) Resize(rows, cols uint16) error {
	return r.sess.Resize(uint32(rows), uint32(cols))
}

func (r *remoteSession) Signal(sig string) error { return r.sess.Signal(sig) }

// Hangup ends the relay; the remote agent then hangs the process up.
func (r *remoteSession) Hangup(context.Context) { r.cancel() }

func (r *remoteSession) Done() <-chan struct{} { return r.done }

func (r *remoteSession) Record() model.Process {
	rec, _, _ := r.a.store.Get(context.Background(), r.gpid)
	return rec
}
