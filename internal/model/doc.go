// Package model holds Nefele's domain types and their validation: GPIDs,
// process specs, process records and their states, nodes, events and the
// domain errors. It is pure: no I/O, no clocks, no etcd. Any internal package
// may import it; it imports only the standard library.
package model
