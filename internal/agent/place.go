package agent

import (
	"context"
	"fmt"

	"github.com/nefele/nefele/internal/model"
	"github.com/nefele/nefele/internal/sched"
)

// place checks over the cluster's view of the nodes that n new processes of
// spec (of group, when not "") fit, and returns an error that says for each
// node why not when they do not. Until the cluster milestone every process
// starts on the node whose agent took the request, so a placement on
// another node is refused, saying so.
func (a *Agent) place(ctx context.Context, spec model.Spec, group string, n int) error {
	if !constrained(spec) && a.cfg.MaxProcs == 0 {
		return nil // nothing to check: any node fits, and this one is up
	}
	views, err := a.nodeViews(ctx)
	if err != nil {
		return err
	}
	req := sched.Request{Resources: spec.Resources, Constraints: spec.Constraints, Node: spec.Node,
		Spread: a.spread(group)}
	picks, err := sched.PlaceN(req, views, n)
	if err != nil {
		return err
	}
	for _, p := range picks {
		if p != a.node.Name {
			return fmt.Errorf("%w: placement chose node %s, but this agent (node %s) starts processes only on its own node until the cluster milestone; send the request to %s's agent",
				model.ErrUnavailable, p, a.node.Name, p)
		}
	}
	return nil
}

func constrained(s model.Spec) bool {
	return s.Resources != (model.Resources{}) || len(s.Constraints) > 0 || s.Node != ""
}

// nodeViews returns the scheduler's view of every known node. What is
// allocated is known for this node (its live processes); other nodes'
// allocation comes with the cluster's watched view.
func (a *Agent) nodeViews(ctx context.Context) ([]sched.NodeView, error) {
	nodes, err := a.store.Nodes(ctx)
	if err != nil {
		return nil, err
	}
	views := make([]sched.NodeView, len(nodes))
	for i, n := range nodes {
		views[i] = sched.NodeView{Name: n.Name, Labels: n.Labels, Down: !n.Up,
			Capacity: model.Capacity{CPUMilli: int64(n.CPU) * 1000, MemoryBytes: n.Memory, MaxProcs: n.MaxProcs}}
		if n.Name == a.node.Name {
			views[i].Allocated = a.allocated()
		}
	}
	return views, nil
}

// allocated sums what this node's live processes ask.
func (a *Agent) allocated() model.Capacity {
	var c model.Capacity
	for _, p := range a.sup.List() {
		c.CPUMilli += p.Spec.Resources.CPUMilli
		c.MemoryBytes += p.Spec.Resources.MemoryBytes
		c.MaxProcs++
	}
	return c
}

// spread counts the live replicas of group on this node.
func (a *Agent) spread(group string) map[string]int {
	if group == "" {
		return nil
	}
	count := 0
	for _, p := range a.sup.List() {
		if p.Group == group {
			count++
		}
	}
	return map[string]int{a.node.Name: count}
}
