package agent

import (
	"github.com/nefele/nefele/internal/model"
	"github.com/nefele/nefele/internal/sched"
)

// place picks over the cluster's view of the nodes a node for each of n new
// processes of spec (of group, when not ""), or returns an error that says
// for each node why none fits. A single process that asks nothing of the
// nodes goes to this node, the one whose agent took the request.
func (a *Agent) place(spec model.Spec, group string, n int) ([]string, error) {
	if n == 1 && !constrained(spec) && a.cfg.MaxProcs == 0 && !a.drained() {
		return []string{a.node.Name}, nil
	}
	views := a.nodeViews()
	req := sched.Request{Resources: spec.Resources, Constraints: spec.Constraints, Node: spec.Node,
		Spread: a.spread(group)}
	if n == 1 {
		cands, err := sched.Place(req, views)
		if err != nil {
			return nil, err
		}
		return []string{cands[0].Node}, nil
	}
	return sched.PlaceN(req, views, n)
}

func constrained(s model.Spec) bool {
	return s.Resources != (model.Resources{}) || len(s.Constraints) > 0 || s.Node != ""
}

// nodeViews returns the scheduler's view of every known node, from the
// watched cluster view. This node's allocation is its own, exact count.
func (a *Agent) nodeViews() []sched.NodeView {
	nodes := a.view.Nodes()
	views := make([]sched.NodeView, len(nodes))
	for i, n := range nodes {
		views[i] = sched.NodeView{Name: n.Name, Labels: n.Labels, Down: !n.Up, Drained: n.Drained,
			Capacity: capacityOf(n.Node), Allocated: n.Allocated}
		if n.Name == a.node.Name {
			views[i].Allocated = a.allocated()
		}
	}
	return views
}

func capacityOf(n model.Node) model.Capacity {
	return model.Capacity{CPUMilli: int64(n.CPU) * 1000, MemoryBytes: n.Memory, MaxProcs: n.MaxProcs}
}

// allocated sums what this node's live processes and its reservations ask.
func (a *Agent) allocated() model.Capacity {
	var c model.Capacity
	add := func(r model.Resources) {
		c.CPUMilli += r.CPUMilli
		c.MemoryBytes += r.MemoryBytes
		c.MaxProcs++
	}
	for _, p := range a.sup.List() {
		add(p.Spec.Resources)
	}
	a.reservedMu.Lock()
	for g, r := range a.reserved {
		if _, live := a.sup.Get(g); !live {
			add(r)
		}
	}
	a.reservedMu.Unlock()
	return c
}

// spread counts the live replicas of group on each node.
func (a *Agent) spread(group string) map[string]int {
	if group == "" {
		return nil
	}
	out := map[string]int{}
	for _, n := range a.view.Nodes() {
		if c := n.Groups[group]; c > 0 {
			out[n.Name] = c
		}
	}
	return out
}

// drained reports whether this node is drained.
func (a *Agent) drained() bool { return a.view.Drained(a.node.Name) }
