package sched

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/nefele/nefele/internal/model"
)

// ErrNoFit means no node can take the request. The error that says why for
// each node is a *NoFitError.
var ErrNoFit = errors.New("no node fits")

// A NodeView is what placement knows of one node. Its zero value, but for
// Name, is a node that is up, schedulable and declares no capacity.
type NodeView struct {
	Name   string
	Labels map[string]string
	// Capacity is what the node offers; zero in a dimension means no limit.
	Capacity model.Capacity
	// Allocated sums the requests of the node's live processes; its
	// MaxProcs is their number.
	Allocated model.Capacity
	// Down is set when the node is known but not up.
	Down bool
	// Drained is set when the node takes no new processes.
	Drained bool
	// Refused, when not empty, says why the node's agent refused this
	// request; the node is then rejected with that reason as it is. The
	// caller sets it to place again after refusals.
	Refused string
}

// A Request is what to place.
type Request struct {
	Resources   model.Resources
	Constraints []model.Constraint
	// Node pins the request to the node of that name; "" places anywhere.
	Node string
	// Spread holds, by node name, the live replicas of the group the
	// request is a replica of; nil for a lone process.
	Spread map[string]int
}

// A Candidate is a node that fits a request, with what ranked it.
type Candidate struct {
	Node string
	// Replicas is the number of live replicas of the group on the node.
	Replicas int
	// Load is the larger of the CPU and memory fractions of the node's
	// capacity allocated with the request (0 in an undeclared dimension).
	Load float64
	// Slots is the fraction of process slots used with the request (0 when
	// the node declares no limit).
	Slots float64
	// Procs is the number of live processes on the node.
	Procs int
}

// Place returns the nodes that fit req, best first, as the package doc
// ranks them. It does not modify nodes, and it expects node names to be
// unique. When no node fits, the error is a *NoFitError; when req asks for
// a negative amount, it wraps model.ErrInvalid.
func Place(req Request, nodes []NodeView) ([]Candidate, error) {
	if err := req.Resources.Validate(); err != nil {
		return nil, err
	}
	var cands []Candidate
	for i := range nodes {
		n := &nodes[i]
		if req.Node != "" && n.Name != req.Node || check(n, &req) != fits {
			continue
		}
		if cands == nil {
			cands = make([]Candidate, 0, capacityFor(&req, len(nodes)))
		}
		cands = append(cands, candidate(n, &req, req.Spread[n.Name]))
	}
	if len(cands) == 0 {
		return nil, noFit(&req, nodes)
	}
	slices.SortFunc(cands, compare)
	return cands, nil
}

// capacityFor returns how many candidates req can have among n nodes.
func capacityFor(req *Request, n int) int {
	if req.Node != "" {
		return 1
	}
	return n
}

// PlaceN places n replicas of a group at once and returns the node of each.
// Each pick counts in the next: the replica joins req.Spread and its
// request the node's allocation, so replicas spread and capacity is not
// oversold. When replica k cannot be placed, PlaceN returns the k-1 nodes
// picked before and an error, naming replica k, that wraps its *NoFitError.
// It does not modify nodes or req.Spread.
func PlaceN(req Request, nodes []NodeView, n int) ([]string, error) {
	if err := req.Resources.Validate(); err != nil {
		return nil, err
	}
	if n < 0 {
		return nil, model.Invalid(strconv.Itoa(n), fmt.Sprintf("invalid replica count %d: use 0 or more", n))
	}
	view := slices.Clone(nodes)
	replicas := make([]int, len(view))
	for i := range view {
		replicas[i] = req.Spread[view[i].Name]
	}
	picks := make([]string, 0, n)
	for k := range n {
		best := pick(&req, view, replicas)
		if best < 0 {
			return picks, fmt.Errorf("replica %d of %d: %w", k+1, n, noFit(&req, view))
		}
		picks = append(picks, view[best].Name)
		allocate(&view[best].Allocated, req.Resources)
		replicas[best]++
	}
	return picks, nil
}

// pick returns the index of the best node of view for req, or -1.
func pick(req *Request, view []NodeView, replicas []int) int {
	best, bestCand := -1, Candidate{}
	for i := range view {
		n := &view[i]
		if req.Node != "" && n.Name != req.Node || check(n, req) != fits {
			continue
		}
		if c := candidate(n, req, replicas[i]); best < 0 || compare(c, bestCand) < 0 {
			best, bestCand = i, c
		}
	}
	return best
}

// allocate adds one process holding r to a.
func allocate(a *model.Capacity, r model.Resources) {
	a.CPUMilli += r.CPUMilli
	a.MemoryBytes += r.MemoryBytes
	a.MaxProcs++
}

// candidate scores n for req.
func candidate(n *NodeView, req *Request, replicas int) Candidate {
	alloc, capa, r := &n.Allocated, &n.Capacity, &req.Resources
	return Candidate{
		Node:     n.Name,
		Replicas: replicas,
		Load: max(fraction(alloc.CPUMilli, r.CPUMilli, capa.CPUMilli),
			fraction(alloc.MemoryBytes, r.MemoryBytes, capa.MemoryBytes)),
		Slots: fraction(int64(alloc.MaxProcs), 1, int64(capa.MaxProcs)),
		Procs: alloc.MaxProcs,
	}
}

// fraction returns (used+more)/capacity, or 0 when capacity is not declared.
func fraction(used, more, capacity int64) float64 {
	if capacity <= 0 {
		return 0
	}
	return (float64(used) + float64(more)) / float64(capacity)
}

// compare orders candidates best first.
func compare(a, b Candidate) int {
	if c := cmp.Compare(a.Replicas, b.Replicas); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Load, b.Load); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Slots, b.Slots); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Procs, b.Procs); c != 0 {
		return c
	}
	return strings.Compare(a.Node, b.Node)
}

// A verdict is the outcome of check: fits, or the first reason a node is
// rejected.
type verdict uint8

const (
	fits verdict = iota
	down
	drained
	refused
	unmet
	noCPU
	noMemory
	noSlot
)

// check returns whether req fits n, or the first reason it does not, in the
// order of the constants. It allocates nothing.
func check(n *NodeView, req *Request) verdict {
	switch {
	case n.Down:
		return down
	case n.Drained:
		return drained
	case n.Refused != "":
		return refused
	}
	for i := range req.Constraints {
		if !req.Constraints[i].Matches(n.Labels) {
			return unmet
		}
	}
	capa, alloc, r := &n.Capacity, &n.Allocated, &req.Resources
	switch {
	case short(r.CPUMilli, capa.CPUMilli, alloc.CPUMilli):
		return noCPU
	case short(r.MemoryBytes, capa.MemoryBytes, alloc.MemoryBytes):
		return noMemory
	case short(1, int64(capa.MaxProcs), int64(alloc.MaxProcs)):
		return noSlot
	}
	return fits
}

// short reports whether asking for want does not fit a capacity of which
// allocated is taken. A capacity of 0 is no limit; a want of 0 always fits.
func short(want, capacity, allocated int64) bool {
	return want > 0 && capacity > 0 && want > capacity-allocated
}
