package agent

import (
	"context"

	"github.com/nefele/nefele/internal/model"
	"github.com/nefele/nefele/internal/sched"
)

// place picks over the cluster's view of the nodes a node for each of n new
// processes of spec (of group, when not ""), or returns an error that says
// for each node why none fits. A single process that asks nothing of the
// nodes goes to this node, the one whose agent took the request.
func (a *Agent) place(ctx context.Context, spec model.Spec, group string, n int) ([]string, error) {
	if n == 1 && !constrained(spec) && a.cfg.MaxProcs == 0 {
		return []string{a.node.Name}, nil
	}
	views, err := a.nodeViews(ctx)
	if err != nil {
		return nil, err
	}
	req := sched.Request{Resources: spec.Resources, Constraints: spec.Constraints, Node: spec.Node,
		Spread: a.spread(group)}
	return sched.PlaceN(req, views, n)
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
