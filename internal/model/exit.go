package model

// ExitStatus is how a run of a process ended.
type ExitStatus struct {
	// Code is the exit code, or -1 when a signal ended the process.
	Code int `json:"code"`
	// Signal is the name of the signal that ended the process ("KILL"), if any.
	Signal string `json:"signal,omitempty"`
}

// Success reports whether the run exited with code 0.
func (e ExitStatus) Success() bool { return e.Code == 0 && e.Signal == "" }

// ShellStatus returns the status a shell would report: the exit code, or
// 128+N when signal N ended the process.
func (e ExitStatus) ShellStatus() int {
	if e.Signal != "" {
		if n, err := ParseSignal(e.Signal); err == nil {
			return 128 + int(n)
		}
		return 128
	}
	return e.Code
}
