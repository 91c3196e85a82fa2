// Package store is the only package that knows Nefele's etcd key layout. It
// keeps typed records (processes, groups, nodes, events) as JSON values and
// offers the transactions and watches the agent needs. Only internal/agent
// (and tests) import it.
//
// Key layout (all under /nefele/):
//
//	seq/gpid                        the next unreserved GPID sequence number
//	nodes/<node>                    a node record (address, labels, capacity, last seen)
//	alive/<node>                    present while the node's lease lives: the node is up
//	external-etcd                   present when the cluster keeps its state in an external etcd
//	drain/<node>                    present while the node is drained (takes no new processes)
//	assign/<node>/<gpid>            what a node must run (it watches its prefix); the
//	                                node's title to the process: writes fail without it
//	elections/reconciler/<lease>    candidates for the reconciler (etcd's concurrency.Election)
//	t/<tenant>/procs/<gpid>         a process record; survives its node
//	t/<tenant>/groups/<name>        the GPIDs that currently hold a name, and a group's count and spec
//	t/<tenant>/events/<time>-<gpid> one state transition
//	u/<tenant>/kv/<key>             a key of the tenant's key-value store (bound to its writer's lease, or not)
//	u/<tenant>/names/<name>         the process that registered a name, bound to its lease
//	u/<tenant>/leases/<gpid>        the id of a process's own lease, bound to it
//	leaseowner/<lease id>           the GPID whose lease that is, bound to it
//	secret                          the cluster's secret: process tokens are derived from it
package store
