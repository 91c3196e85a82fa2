package model

import (
	"fmt"
	"time"
)

// RestartPolicy says when a process that ended is started again in place.
type RestartPolicy string

// The restart policies. The empty policy means the default: never for a
// single process, always for a group.
const (
	RestartNever     RestartPolicy = "never"
	RestartOnFailure RestartPolicy = "on-failure"
	RestartAlways    RestartPolicy = "always"
)

// ParseRestartPolicy checks s.
func ParseRestartPolicy(s string) (RestartPolicy, error) {
	switch p := RestartPolicy(s); p {
	case "", RestartNever, RestartOnFailure, RestartAlways:
		return p, nil
	}
	return "", Invalid(s, fmt.Sprintf("invalid restart policy %q: use never, on-failure or always", s))
}

// ShouldRestart reports whether a process under policy p that ended with
// exit (nil when its status is unknown) is started again. A stopped process
// never is.
func (p RestartPolicy) ShouldRestart(exit *ExitStatus) bool {
	switch p {
	case RestartAlways:
		return true
	case RestartOnFailure:
		return exit == nil || !exit.Success()
	}
	return false
}

// Backoff is the restart delay schedule: Base doubling per consecutive crash,
// capped at Max, and reset once a run lasts Reset without crashing.
type Backoff struct {
	Base, Max, Reset time.Duration
}

// DefaultBackoff is 1 s doubling, capped at 1 min, reset after 10 min of running.
var DefaultBackoff = Backoff{Base: time.Second, Max: time.Minute, Reset: 10 * time.Minute}

// Delay returns the delay before restart number n (n >= 1 counts consecutive
// crashes, the first restart being n = 1).
func (b Backoff) Delay(n int) time.Duration {
	d := b.Base
	for i := 1; i < n && d < b.Max; i++ {
		d *= 2
	}
	return min(d, b.Max)
}

// Next returns the consecutive-crash count after a run that lasted ran,
// given the count before it.
func (b Backoff) Next(crashes int, ran time.Duration) int {
	if ran >= b.Reset {
		return 1
	}
	return crashes + 1
}
