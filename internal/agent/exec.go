package agent

import (
	"context"
	"fmt"

	"github.com/nefele/nefele/internal/apiserver"
	"github.com/nefele/nefele/internal/model"
	"github.com/nefele/nefele/internal/supervisor"
)

// Exec implements apiserver.Backend: it records an attached process and
// starts it here, wired to the caller's stream.
func (a *Agent) Exec(ctx context.Context, spec model.Spec, opts apiserver.ExecOptions) (apiserver.ExecSession, model.Process, error) {
	spec.Restart, spec.MaxRestarts = model.RestartNever, 0
	if err := spec.Validate(false); err != nil {
		return nil, model.Process{}, err
	}
	picks, err := a.place(ctx, spec, "", 1)
	if err != nil {
		return nil, model.Process{}, err
	}
	if picks[0] != a.node.Name {
		return nil, model.Process{}, fmt.Errorf("%w: placement chose node %s; exec runs on the node of the agent it asks until the cluster milestone: run it with --addr of %s's agent",
			model.ErrUnavailable, picks[0], picks[0])
	}
	if err := a.admit(1); err != nil {
		return nil, model.Process{}, err
	}
	procs, err := a.newRecords(ctx, "", 1, spec, false)
	if err != nil {
		return nil, model.Process{}, err
	}
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
