package sched

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/nefele/nefele/internal/model"
)

// A Rejection says why a node cannot take a request: "down",
// "constraint zone=eu not met", "memory 200Mi free, 512Mi asked".
type Rejection struct {
	Node   string
	Reason string
}

// A NoFitError says, for each node sorted by name, why it was rejected. It
// matches ErrNoFit.
type NoFitError struct {
	Rejections []Rejection
	// UnknownNode is set when the request pins a node that is not known.
	UnknownNode bool
}

// maxListed is how many rejections Error lists before it counts the rest.
const maxListed = 20

// Error returns "no node fits: node a: down; node b: constraint zone=eu not
// met", listing the first 20 nodes and counting the others.
func (e *NoFitError) Error() string {
	if len(e.Rejections) == 0 {
		return ErrNoFit.Error() + ": no nodes"
	}
	var b strings.Builder
	b.WriteString(ErrNoFit.Error())
	b.WriteString(": ")
	for i, r := range e.Rejections {
		if i == maxListed {
			fmt.Fprintf(&b, "; and %d more nodes", len(e.Rejections)-i)
			break
		}
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString("node " + r.Node + ": " + r.Reason)
	}
	return b.String()
}

// Unwrap returns ErrNoFit and model.ErrNoCapacity, so that the API's error
// table maps it to no_capacity; or, for a pin to an unknown node, ErrNoFit
// and model.ErrNoNode.
func (e *NoFitError) Unwrap() []error {
	if e.UnknownNode {
		return []error{ErrNoFit, model.ErrNoNode}
	}
	return []error{ErrNoFit, model.ErrNoCapacity}
}

// noFit returns the *NoFitError of req over nodes, where none fits.
func noFit(req *Request, nodes []NodeView) error {
	if req.Node != "" {
		i := slices.IndexFunc(nodes, func(n NodeView) bool { return n.Name == req.Node })
		if i < 0 {
			return &NoFitError{Rejections: []Rejection{{req.Node, "no such node (known: " + known(nodes) + ")"}}, UnknownNode: true}
		}
		return &NoFitError{Rejections: []Rejection{{req.Node, reason(&nodes[i], req)}}}
	}
	rej := make([]Rejection, len(nodes))
	for i := range nodes {
		rej[i] = Rejection{nodes[i].Name, reason(&nodes[i], req)}
	}
	slices.SortFunc(rej, func(a, b Rejection) int { return strings.Compare(a.Node, b.Node) })
	return &NoFitError{Rejections: rej}
}

// maxKnown is how many node names a pin to an unknown node lists.
const maxKnown = 10

// known returns the sorted names of nodes, the first 10 and a count of the
// others, or "none".
func known(nodes []NodeView) string {
	if len(nodes) == 0 {
		return "none"
	}
	names := make([]string, len(nodes))
	for i := range nodes {
		names[i] = nodes[i].Name
	}
	slices.Sort(names)
	if len(names) > maxKnown {
		return strings.Join(names[:maxKnown], ", ") + fmt.Sprintf(" and %d more", len(names)-maxKnown)
	}
	return strings.Join(names, ", ")
}

// reason says why n does not fit req.
func reason(n *NodeView, req *Request) string {
	capa, alloc, r := &n.Capacity, &n.Allocated, &req.Resources
	switch check(n, req) {
	case down:
		return "down"
	case drained:
		return "unschedulable (drained)"
	case refused:
		return n.Refused
	case unmet:
		return unmetReason(n, req)
	case noCPU:
		return "cpu " + model.FormatCPU(free(capa.CPUMilli, alloc.CPUMilli)) + " free, " + model.FormatCPU(r.CPUMilli) + " asked"
	case noMemory:
		f, a := model.FormatMemory(free(capa.MemoryBytes, alloc.MemoryBytes)), model.FormatMemory(r.MemoryBytes)
		if f == a { // rounded to the same figure: say it in bytes
			f, a = strconv.FormatInt(free(capa.MemoryBytes, alloc.MemoryBytes), 10), strconv.FormatInt(r.MemoryBytes, 10)
		}
		return "memory " + f + " free, " + a + " asked"
	case noSlot:
		return fmt.Sprintf("process slots full (%d of %d)", alloc.MaxProcs, capa.MaxProcs)
	}
	return "fits" // not reached: noFit asks only about nodes that do not fit
}

// unmetReason names the constraints of req that n does not meet.
func unmetReason(n *NodeView, req *Request) string {
	var unmet []string
	for _, c := range req.Constraints {
		if !c.Matches(n.Labels) {
			unmet = append(unmet, c.String())
		}
	}
	if len(unmet) == 1 {
		return "constraint " + unmet[0] + " not met"
	}
	return "constraints " + strings.Join(unmet, ", ") + " not met"
}

// free returns what is left of capacity, or 0 when it is overcommitted.
func free(capacity, allocated int64) int64 {
	return max(capacity-allocated, 0)
}
