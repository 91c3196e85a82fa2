package model

// State is where a process is in its life. The zero value is StatePending.
type State string

// The states of a process. Exited, failed and lost are final: the process is
// not started again in place (a lost process may be replaced elsewhere).
const (
	StatePending  State = "pending"
	StateStarting State = "starting"
	StateRunning  State = "running"
	StateBackoff  State = "backoff"
	StateExited   State = "exited"
	StateFailed   State = "failed"
	StateLost     State = "lost"
)

// Ended reports whether s is a final state.
func (s State) Ended() bool {
	return s == StateExited || s == StateFailed || s == StateLost
}
