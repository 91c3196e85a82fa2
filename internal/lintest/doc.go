// Package lintest holds the linearizability tests of Nefele's primitives
// (issue 4): concurrent clients on several agents run random Put, Get and
// CompareAndSwap on a few keys, and Lock/Unlock on one lock, while agents
// are SIGKILLed and restarted, or one host is cut off (internal/netsim,
// root only). The KV histories are checked with porcupine against a
// per-key register model; the lock holdings are checked for mutual
// exclusion and for fencing tokens that increase from holder to holder.
// It has no non-test code and nothing imports it.
package lintest
