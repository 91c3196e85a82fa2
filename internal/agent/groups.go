package agent

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/nefele/nefele/internal/model"
	"github.com/nefele/nefele/internal/sched"
	"github.com/nefele/nefele/internal/store"
)

// settleLimit bounds how long Scale and Drain wait for the reconciler.
const settleLimit = time.Minute

// Scale implements apiserver.Backend: it sets the group's count in its
// record, which the reconciler acts on, and waits until the group has
// that many members and none is on its way up or down.
func (a *Agent) Scale(ctx context.Context, name string, replicas int) ([]model.Process, error) {
	if err := model.ValidateName(name); err != nil {
		return nil, err
	}
	if replicas < 0 {
		return nil, model.Invalid(fmt.Sprint(replicas), fmt.Sprintf("invalid replica count %d: use 0 or more", replicas))
	}
	if _, err := a.store.SetReplicas(ctx, name, replicas); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, settleLimit)
	defer cancel()
	var members []model.Process
	a.waitView(ctx, func() bool {
		var settled bool
		members, settled = a.groupMembers(name, replicas)
		return settled
	})
	return members, nil
}

// groupMembers returns the members of group name in the view and whether
// the group is settled at replicas: that many members, none pending,
// starting or stopping.
func (a *Agent) groupMembers(name string, replicas int) ([]model.Process, bool) {
	g, ok := a.view.Group(name)
	if !ok {
		return nil, false
	}
	var out []model.Process
	settled := len(g.GPIDs) == replicas
	for _, gp := range g.GPIDs {
		p, _, ok := a.view.Process(gp)
		if !ok {
			settled = false
			continue
		}
		out = append(out, p)
		if p.State == model.StatePending || p.State == model.StateStarting || p.Stopping {
			settled = false
		}
	}
	store.SortByGPID(out)
	return out, settled
}

// waitView calls done on every change of the view, and twice a second,
// until it returns true or ctx ends.
func (a *Agent) waitView(ctx context.Context, done func() bool) {
	for {
		changed := a.view.Changed()
		if done() {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-a.ctx.Done():
			return
		case <-changed:
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// Drain implements apiserver.Backend: it marks node drained, which the
// scheduler and the reconciler act on, and waits until no process is left
// on the node (but exec sessions, which end with their caller).
func (a *Agent) Drain(ctx context.Context, node string) ([]model.Process, error) {
	if err := a.knownNode(node); err != nil {
		return nil, err
	}
	if err := a.store.SetDrained(ctx, node, true); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, settleLimit)
	defer cancel()
	var left []model.Process
	stuckSince := time.Time{}
	a.waitView(ctx, func() bool {
		left = left[:0]
		empty, stuck := true, true
		for _, p := range a.view.Live() {
			if p.Node != node {
				continue
			}
			left = append(left, p)
			empty = empty && p.Attached
			stuck = stuck && (p.Attached || p.ReplacedBy == "" && !p.Stopping && !a.placeable(p))
		}
		// Processes that no other node can take stay: say so after a
		// moment (the reconciler may be about to act) rather than a minute.
		if stuck && stuckSince.IsZero() {
			stuckSince = time.Now()
		} else if !stuck {
			stuckSince = time.Time{}
		}
		return empty || stuck && time.Since(stuckSince) > 2*time.Second
	})
	return left, nil
}

// placeable reports whether a replacement of p fits a node of the view.
func (a *Agent) placeable(p model.Process) bool {
	if !replaceable(p) {
		return true // it is stopped, not moved
	}
	req := sched.Request{Resources: p.Spec.Resources, Constraints: p.Spec.Constraints}
	_, err := sched.Place(req, a.nodeViews())
	return err == nil
}

// Undrain implements apiserver.Backend.
func (a *Agent) Undrain(ctx context.Context, node string) error {
	if err := a.knownNode(node); err != nil {
		return err
	}
	return a.store.SetDrained(ctx, node, false)
}

func (a *Agent) knownNode(name string) error {
	var names []string
	for _, n := range a.view.Nodes() {
		if n.Name == name {
			return nil
		}
		names = append(names, n.Name)
	}
	return &model.SubjectError{Subject: name, Err: model.ErrNoNode,
		Msg: fmt.Sprintf("no such node: %s (the nodes are %s; see nefele nodes)", name, strings.Join(names, ", "))}
}
