package model

import "errors"

// Domain errors. They are wrapped with context where they arise and mapped to
// wire codes in one table in internal/apiserver.
var (
	// ErrNoProcess means no process has the GPID or name asked for.
	ErrNoProcess = errors.New("no such process")
	// ErrInvalid means a spec, flag or request value is malformed.
	ErrInvalid = errors.New("invalid argument")
	// ErrNameInUse means a live process already holds the name.
	ErrNameInUse = errors.New("name in use")
	// ErrNotFound means the command of a spec cannot be found (exit status 127).
	ErrNotFound = errors.New("executable not found")
	// ErrNotExecutable means the command exists but cannot be run (exit status 126).
	ErrNotExecutable = errors.New("not executable")
	// ErrStart means the process could not be started for another cause.
	ErrStart = errors.New("start failed")
	// ErrNotRunning means the operation needs a live process.
	ErrNotRunning = errors.New("process not running")
	// ErrUnavailable means the agent cannot serve now (shutting down, store unreachable).
	ErrUnavailable = errors.New("unavailable")
	// ErrNoCapacity means the node has no room for the process.
	ErrNoCapacity = errors.New("no capacity")
	// ErrFenced means a node wrote about a process that is no longer
	// assigned to it (it was lost with its node, and maybe replaced).
	ErrFenced = errors.New("process no longer assigned to this node")
	// ErrNotGroup means a name that is asked to scale is not a group.
	ErrNotGroup = errors.New("not a group")
	// ErrNoNode means no node has the name asked for.
	ErrNoNode = errors.New("no such node")
	// ErrKeyNotFound means the key is not in the store.
	ErrKeyNotFound = errors.New("not found")
	// ErrNoName means no process holds the registered name.
	ErrNoName = errors.New("no such name")
	// ErrNotProcess means the call needs a managed process as its caller.
	ErrNotProcess = errors.New("not a managed process")
	// ErrUnauthenticated means a token is not valid, or its process ended.
	ErrUnauthenticated = errors.New("unauthenticated")
	// ErrNotHeld means a lock is not held by the lock id given (any more).
	ErrNotHeld = errors.New("lock not held")
	// ErrNoSession means a session has expired, or never was.
	ErrNoSession = errors.New("no such session")
	// ErrNoLeader means an election has no leader now.
	ErrNoLeader = errors.New("no leader")
	// ErrNoMailbox means the process runs but has not opened its mailbox.
	ErrNoMailbox = errors.New("no mailbox")
	// ErrMailboxFull means a mailbox has no room now.
	ErrMailboxFull = errors.New("mailbox full")
	// ErrTooLarge means a message is over its mailbox's limit.
	ErrTooLarge = errors.New("message too large")
)

// SubjectError carries the value an error is about (a GPID, a name, a path)
// so that the wire error can name it. Unwrap returns Err.
type SubjectError struct {
	Subject string
	Err     error
	Msg     string
}

func (e *SubjectError) Error() string {
	if e.Msg != "" {
		return e.Msg
	}
	return e.Err.Error() + ": " + e.Subject
}

func (e *SubjectError) Unwrap() error { return e.Err }

// NoProcess returns ErrNoProcess naming target, as "no such process: target".
func NoProcess(target string) error {
	return &SubjectError{Subject: target, Err: ErrNoProcess}
}

// Invalid returns ErrInvalid with a message that names the bad value and
// what is allowed.
func Invalid(subject, msg string) error {
	return &SubjectError{Subject: subject, Err: ErrInvalid, Msg: msg}
}
