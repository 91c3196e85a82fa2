// Package sched places processes on nodes. It is pure: functions from a
// request and a view of the cluster to a ranking of nodes, with no I/O, no
// clock and no shared state, so the agent that receives a request can place
// it over its own watched view of the nodes. It imports only the standard
// library and internal/model; the agent imports it.
//
// Placement filters, then scores. A node is rejected when it is down,
// drained, has refused the request already (NodeView.Refused), does not
// meet a label constraint, or lacks free CPU, memory or a process slot for
// the request; a pin (Request.Node) leaves only the node named. Zero in a
// dimension of a node's capacity means the dimension is not declared: no
// limit there. Zero in a dimension of a request asks for nothing there, so
// it fits any node in that dimension, even one already over its capacity.
//
// The nodes that remain are ranked best first by, in order:
//
//  1. fewest live replicas of the request's group on the node (spread);
//  2. least allocated: the larger of the CPU and memory fractions of the
//     node's capacity that would be allocated with the request;
//  3. the fraction of process slots that would be used;
//  4. fewest live processes (this spreads lone processes over nodes that
//     declare no capacity);
//  5. node name, so that the same input always gives the same ranking,
//     whatever the order of the nodes.
//
// The caller asks the first candidate's agent, which admits against its
// real free capacity and may refuse; the caller then moves to the next
// candidate. When nothing fits, the error is a *NoFitError that says for
// each node why it was rejected, and matches ErrNoFit.
package sched
