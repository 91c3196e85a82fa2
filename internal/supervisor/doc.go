// Package supervisor runs one node's processes: it starts them in their own
// session with their output going straight to log files, waits for them
// through pidfds, records every transition through a callback, applies the
// restart policy with backoff, stops whole process trees gracefully, runs
// attached (exec) processes over pipes or a PTY, gives a process that reads
// another's output a stdin pipe that Config.Feed writes, and re-adopts
// processes that outlived a previous agent.
//
// It knows nothing of etcd or the API: the agent gives it a Recorder and
// calls it. Only internal/agent imports it.
//
// Concurrency: each process has one goroutine that owns its life (start,
// wait, restart, stop), one that waits on its pidfd and, while a run is fed,
// one that runs Feed; commands reach the owner over a channel. Supervisor.mu
// guards the process map; proc.mu guards the record of one process. Lock
// order: Supervisor.mu before proc.mu.
package supervisor
