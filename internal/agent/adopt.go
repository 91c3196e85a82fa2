package agent

import (
	"context"
	"fmt"
	"time"

	"github.com/nefele/nefele/internal/model"
)

// adopt takes over the processes the store assigns to this node, as a
// previous agent left them: running ones are watched again (never started
// twice), ones that ended meanwhile are recorded so and their restart policy
// applies, and pending or backing-off ones go on.
func (a *Agent) adopt(ctx context.Context) error {
	procs, err := a.store.Assigned(ctx, a.node.Name)
	if err != nil {
		return fmt.Errorf("adopt: %w", err)
	}
	for _, p := range procs {
		if err := a.adoptOne(ctx, p); err != nil {
			return fmt.Errorf("adopt %s: %w", p.GPID, err)
		}
	}
	if len(procs) > 0 {
		a.log.Info("adoption done", "processes", len(procs))
	}
	all, err := a.store.List(ctx, true)
	if err != nil {
		return fmt.Errorf("adopt: %w", err)
	}
	return a.sup.CleanLogs(all)
}

func (a *Agent) adoptOne(ctx context.Context, p model.Process) error {
	switch p.State {
	case model.StateRunning:
		alive, err := a.sup.Adopt(ctx, p)
		if err == nil && alive && p.Attached {
			// Its exec session died with the old agent: hang it up.
			go a.sup.Stop(a.ctx, p.GPID, 2*time.Second)
		}
		return err
	case model.StatePending, model.StateStarting, model.StateBackoff:
		return a.sup.Resume(ctx, p)
	}
	return nil
}
