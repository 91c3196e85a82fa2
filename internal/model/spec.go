package model

import (
	"fmt"
	"regexp"
	"strings"
	"time"
)

// Spec says what to run.
type Spec struct {
	Command     []string      `json:"command"`
	Env         []string      `json:"env,omitempty"`
	Workdir     string        `json:"workdir,omitempty"`
	Restart     RestartPolicy `json:"restart,omitempty"`
	MaxRestarts int           `json:"max_restarts,omitempty"`
	StopSignal  string        `json:"stop_signal,omitempty"`
	StopTimeout time.Duration `json:"stop_timeout,omitempty"`
	// Resources is what the process asks of its node's capacity.
	Resources Resources `json:"resources,omitzero"`
	// Constraints filter the nodes it may run on; Node pins it to one.
	Constraints []Constraint `json:"constraints,omitempty"`
	Node        string       `json:"node,omitempty"`
	// Ports names the TCP ports the process listens on; each gets a free
	// port, in NEFELE_PORT_<NAME>.
	Ports []string `json:"ports,omitempty"`
	// StdinFrom names the process whose stdout feeds this one's stdin: a
	// GPID or a name as asked, the GPID it resolved to once Spawn has
	// resolved it. Empty means /dev/null.
	StdinFrom string `json:"stdin_from,omitempty"`
}

var portRE = regexp.MustCompile(`^[a-z][a-z0-9_]{0,31}$`)

// PortEnv returns the environment variable that holds port name's number.
func PortEnv(name string) string { return "NEFELE_PORT_" + strings.ToUpper(name) }

// DefaultStopTimeout is the grace between the stop signal and SIGKILL.
const DefaultStopTimeout = 10 * time.Second

var nameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$`)

// ValidateName checks a process or group name: 1 to 63 lower-case letters,
// digits, '.', '_' or '-', starting and ending with a letter or digit, and not
// of the form of a GPID.
func ValidateName(name string) error {
	if !nameRE.MatchString(name) {
		return Invalid(name, fmt.Sprintf("invalid name %q: use 1-63 lower-case letters, digits, '.', '_' or '-', starting and ending with a letter or digit", name))
	}
	if IsGPID(name) {
		return Invalid(name, fmt.Sprintf("invalid name %q: it has the form of a GPID (p followed by a number); choose another", name))
	}
	return nil
}

// Validate checks s and fills in defaults. group tells whether s is the spec
// of a group (whose default restart policy is always).
func (s *Spec) Validate(group bool) error {
	if len(s.Command) == 0 || s.Command[0] == "" {
		return Invalid("", "empty command: give the program to run after --, like: nefele run -- sleep 60")
	}
	seen := map[string]bool{}
	for _, p := range s.Ports {
		if !portRE.MatchString(p) {
			return Invalid(p, fmt.Sprintf("invalid port name %q: use 1-32 lower-case letters, digits or '_', starting with a letter, like http", p))
		}
		if seen[p] {
			return Invalid(p, fmt.Sprintf("port %s given twice", p))
		}
		seen[p] = true
	}
	for _, kv := range s.Env {
		if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
			return Invalid(kv, fmt.Sprintf("invalid env %q: use KEY=VALUE", kv))
		}
	}
	if _, err := ParseRestartPolicy(string(s.Restart)); err != nil {
		return err
	}
	if s.Restart == "" {
		s.Restart = RestartNever
		if group {
			s.Restart = RestartAlways
		}
	}
	if s.MaxRestarts < 0 {
		return Invalid(fmt.Sprint(s.MaxRestarts), fmt.Sprintf("invalid max restarts %d: use 0 (no limit) or more", s.MaxRestarts))
	}
	if s.StopSignal == "" {
		s.StopSignal = "TERM"
	}
	sig, err := ParseSignal(s.StopSignal)
	if err != nil {
		return err
	}
	s.StopSignal = SignalName(sig)
	if s.StopTimeout < 0 {
		return Invalid(s.StopTimeout.String(), fmt.Sprintf("invalid stop timeout %s: use 0 or more", s.StopTimeout))
	}
	if s.StopTimeout == 0 {
		s.StopTimeout = DefaultStopTimeout
	}
	return s.Resources.Validate()
}
