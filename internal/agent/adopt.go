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
	for _, p := range all {
		if p.Node != a.node.Name || p.State != model.StateLost {
			continue
		}
		if p.ReplacedBy != "" {
			a.sup.Fence(p) // replaced elsewhere while this node was down: never twice
			continue
		}
		// Lost but not replaced: if it still runs, it is this node's again.
		// Record it running first: if it has ended, adoption then records
		// that, and no stale write can come after.
		p.State, p.Reason, p.EndedAt = model.StateRunning, "its node came back", time.Time{}
		if err := a.store.Put(ctx, model.StateLost, p); err != nil {
			return fmt.Errorf("adopt %s: %w", p.GPID, err)
		}
		if _, err := a.sup.Adopt(ctx, p); err != nil {
			return fmt.Errorf("adopt %s: %w", p.GPID, err)
		}
	}
	return a.sup.CleanLogs(all)
}

func (a *Agent) adoptOne(ctx context.Context, p model.Process) error {
	switch p.State {
	case model.StateRunning:
		alive, err := a.sup.Adopt(ctx, p)
		if err == nil && alive {
			if err := a.resumeLease(ctx, p.GPID); err != nil {
				a.log.Warn("the lease of an adopted process", "gpid", p.GPID, "err", err)
			}
		}
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

// watchAssignments starts the processes that agents of other nodes place on
// this one: each appears as an assignment key with a pending record.
func (a *Agent) watchAssignments(rev int64) {
	defer a.bg.Done()
	err := a.store.WatchAssigned(a.ctx, a.node.Name, rev, func(gpid model.GPID) {
		if _, managed := a.sup.Get(gpid); managed {
			return
		}
		p, _, err := a.store.Get(a.ctx, gpid)
		if err != nil || p.State != model.StatePending || p.Node != a.node.Name || p.Origin == a.node.Name {
			return // the agent that made it starts it, or it is on its way already
		}
		a.startAssigned(p)
	})
	if err != nil && a.ctx.Err() == nil {
		a.log.Error("assignments no longer watched", "err", err)
	}
}

// startAssigned starts p, a process another agent placed on this node, if
// the node has room for it; else it records that this node refused it, and
// the agent that placed it places it again elsewhere.
func (a *Agent) startAssigned(p model.Process) {
	if err := a.reserve(p.Spec.Resources, p.GPID); err != nil {
		p.State, p.Reason, p.Failure, p.EndedAt = model.StateFailed, err.Error(), "no_capacity", time.Now()
		if err := a.store.Put(a.ctx, model.StatePending, p); err != nil {
			a.log.Warn("refuse placed process", "gpid", p.GPID, "err", err)
		}
		return
	}
	go func() {
		defer a.release(p.GPID)
		a.sup.Start(a.ctx, p)
	}()
}
