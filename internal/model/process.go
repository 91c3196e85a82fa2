package model

import "time"

// Process is the record of one process: what it runs, where, and how its
// runs went. It is what the store keeps and what ps shows.
type Process struct {
	GPID    GPID   `json:"gpid"`
	Name    string `json:"name,omitempty"`
	Group   string `json:"group,omitempty"`
	Replica int    `json:"replica,omitempty"`
	Node    string `json:"node"`
	// Origin is the node whose agent created the record; that agent starts
	// the processes it places on itself, the others start theirs when their
	// assignment appears.
	Origin string `json:"origin,omitempty"`
	Spec   Spec   `json:"spec"`
	State  State  `json:"state"`
	// Reason says in words why the process is in its state.
	Reason string `json:"reason,omitempty"`
	// PID is the OS process id while it runs; StartTicks is its start time in
	// clock ticks since boot (from /proc/PID/stat) and BootID the boot it ran
	// in, so a reused pid is never taken for this process.
	PID        int    `json:"pid,omitempty"`
	StartTicks uint64 `json:"start_ticks,omitempty"`
	BootID     string `json:"boot_id,omitempty"`
	// Exit is how the last run ended; nil before the first end, or when the
	// status is unknown (it ended while its agent was down).
	Exit     *ExitStatus `json:"exit,omitempty"`
	Restarts int         `json:"restarts"`
	// PolicyRestarts counts the restarts the restart policy made (not the
	// ones asked for); --max-restarts bounds it.
	PolicyRestarts int `json:"policy_restarts,omitempty"`
	// Crashes counts consecutive crashes for the backoff.
	Crashes  int  `json:"crashes,omitempty"`
	Attached bool `json:"attached,omitempty"`
	Stopping bool `json:"stopping,omitempty"`
	// ReplacedBy is the GPID of the process that replaced this one when it
	// was lost with its node, or its node was drained; Replaces is the
	// GPID this one replaced.
	ReplacedBy GPID `json:"replaced_by,omitempty"`
	Replaces   GPID `json:"replaces,omitempty"`
	// LogID names the process's log files on its node.
	LogID string `json:"log_id,omitempty"`
	// Failure is the domain error of a failed start (ErrNotFound, …), by reason word.
	Failure   string    `json:"failure,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	StartedAt time.Time `json:"started_at,omitzero"`
	EndedAt   time.Time `json:"ended_at,omitzero"`
	// NextRestartAt is when a process in backoff starts again.
	NextRestartAt time.Time `json:"next_restart_at,omitzero"`
}

// ShutdownReason begins the reason of a process stopped because its agent
// shut down (not on request): the reconciler starts group members stopped
// so elsewhere.
const ShutdownReason = "stopped: agent shut down"

// Event is one state transition of one process.
type Event struct {
	Time   time.Time `json:"time"`
	GPID   GPID      `json:"gpid"`
	Name   string    `json:"name,omitempty"`
	Node   string    `json:"node"`
	From   State     `json:"from,omitempty"`
	To     State     `json:"to"`
	Reason string    `json:"reason,omitempty"`
}

// Node is one agent of the cluster.
type Node struct {
	Name      string            `json:"name"`
	Address   string            `json:"address"`
	PID       int               `json:"pid"`
	Server    bool              `json:"server"`
	Labels    map[string]string `json:"labels,omitempty"`
	CPU       int               `json:"cpu"`
	Memory    int64             `json:"memory"`
	MaxProcs  int               `json:"max_procs"`
	Version   string            `json:"version"`
	StartedAt time.Time         `json:"started_at"`
	// LastSeen is when the node was last known to be up: refreshed while it
	// runs, and set when it shuts down.
	LastSeen time.Time `json:"last_seen,omitzero"`
}
