// Package agent is the composition root of one Nefele node: it locks the data
// dir, starts the embedded etcd member, the store, the supervisor and the API
// server in order, re-adopts the processes a previous agent left running, and
// implements the API's Backend by combining them. Shutdown undoes it in
// reverse: processes are stopped gracefully and their final states recorded,
// then the API and etcd stop.
//
// Lifecycle: a, err := agent.New(cfg); err = a.Start(ctx); ...; err = a.Shutdown(ctx).
// Only internal/cli imports it.
package agent
