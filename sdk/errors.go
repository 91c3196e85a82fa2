package nefele

import (
	"errors"
	"fmt"
	"net"

	"connectrpc.com/connect"

	nefelev1 "github.com/nefele/nefele/api/nefele/v1"
	"github.com/nefele/nefele/sdk/mailbox"
)

// Sentinel errors; test with errors.Is.
var (
	ErrNoProcess     = errors.New("no such process")
	ErrInvalid       = errors.New("invalid argument")
	ErrNameInUse     = errors.New("name in use")
	ErrNotFound      = errors.New("executable not found")
	ErrNotExecutable = errors.New("not executable")
	ErrStart         = errors.New("start failed")
	ErrNotRunning    = errors.New("process not running")
	ErrUnavailable   = errors.New("agent unavailable")
	ErrNoCapacity    = errors.New("no capacity")
	ErrNotGroup      = errors.New("not a group")
	ErrNoNode        = errors.New("no such node")
	// ErrKeyNotFound means the key is not in the store.
	ErrKeyNotFound = errors.New("not found")
	// ErrNoName means no process holds the registered name.
	ErrNoName = errors.New("no such name")
	// ErrNotProcess means the call needs a managed process as its caller.
	ErrNotProcess = errors.New("not a managed process")
	// ErrUnauthenticated means the token is not valid, or its process ended.
	ErrUnauthenticated = errors.New("unauthenticated")
	// ErrNotHeld means a lock is not held by this holder (any more).
	ErrNotHeld = errors.New("lock not held")
	// ErrNoSession means a session has expired, or never was.
	ErrNoSession = errors.New("no such session")
	// ErrNoLeader means an election has no leader now.
	ErrNoLeader = errors.New("no leader")
	// ErrUnreachable means no agent answered at the address.
	ErrUnreachable = errors.New("agent unreachable")
	// ErrNoMailbox means the process runs but has opened no mailbox.
	ErrNoMailbox = errors.New("no mailbox")
	// ErrMailboxFull means the receiver's mailbox has no room now.
	ErrMailboxFull = mailbox.ErrFull
	// ErrTooLarge means a message is over the receiver's limit.
	ErrTooLarge = mailbox.ErrTooLarge
)

// reasons is the client half of the error table: the stable reason carried
// by an API error and the sentinel it matches. The server half is in
// internal/apiserver; both are keyed by nefelev1.Reason.
var reasons = map[nefelev1.Reason]error{
	nefelev1.Reason_REASON_NO_SUCH_PROCESS:      ErrNoProcess,
	nefelev1.Reason_REASON_INVALID_ARGUMENT:     ErrInvalid,
	nefelev1.Reason_REASON_NAME_IN_USE:          ErrNameInUse,
	nefelev1.Reason_REASON_EXECUTABLE_NOT_FOUND: ErrNotFound,
	nefelev1.Reason_REASON_NOT_EXECUTABLE:       ErrNotExecutable,
	nefelev1.Reason_REASON_START_FAILED:         ErrStart,
	nefelev1.Reason_REASON_NOT_RUNNING:          ErrNotRunning,
	nefelev1.Reason_REASON_UNAVAILABLE:          ErrUnavailable,
	nefelev1.Reason_REASON_NO_CAPACITY:          ErrNoCapacity,
	nefelev1.Reason_REASON_NOT_A_GROUP:          ErrNotGroup,
	nefelev1.Reason_REASON_NO_SUCH_NODE:         ErrNoNode,
	nefelev1.Reason_REASON_KEY_NOT_FOUND:        ErrKeyNotFound,
	nefelev1.Reason_REASON_NO_SUCH_NAME:         ErrNoName,
	nefelev1.Reason_REASON_NOT_A_PROCESS:        ErrNotProcess,
	nefelev1.Reason_REASON_UNAUTHENTICATED:      ErrUnauthenticated,
	nefelev1.Reason_REASON_NOT_HELD:             ErrNotHeld,
	nefelev1.Reason_REASON_NO_SUCH_SESSION:      ErrNoSession,
	nefelev1.Reason_REASON_NO_LEADER:            ErrNoLeader,
	nefelev1.Reason_REASON_NO_MAILBOX:           ErrNoMailbox,
	nefelev1.Reason_REASON_MAILBOX_FULL:         ErrMailboxFull,
	nefelev1.Reason_REASON_MESSAGE_TOO_LARGE:    ErrTooLarge,
}

// Error is an error returned by an agent. errors.Is matches it against the
// sentinel of its Reason.
type Error struct {
	// Reason is the stable machine-readable cause.
	Reason nefelev1.Reason
	// Subject is the value the error is about, when there is one.
	Subject string
	// Message is the agent's message, meant for people.
	Message string
	// Code is the Connect code of the error.
	Code connect.Code
}

func (e *Error) Error() string { return e.Message }

// Is reports whether target is the sentinel of e's reason.
func (e *Error) Is(target error) bool {
	if e.Reason == nefelev1.Reason_REASON_UNSPECIFIED && e.Code == connect.CodeUnavailable {
		// The connection broke mid-call (the agent died): no agent said so.
		return target == ErrUnavailable
	}
	s, ok := reasons[e.Reason]
	return ok && s == target
}

// retryable reports whether err says the call may succeed if made again
// soon: the agent or its store was unavailable, or unreachable.
func retryable(err error) bool {
	return errors.Is(err, ErrUnavailable) || errors.Is(err, ErrUnreachable)
}

// ReasonString returns the reason as a short snake_case word ("no_such_process").
func (e *Error) ReasonString() string { return ReasonName(e.Reason) }

// ReasonName returns r as a short snake_case word ("no_such_process").
func ReasonName(r nefelev1.Reason) string {
	name := nefelev1.Reason_name[int32(r)]
	if len(name) > len("REASON_") {
		name = name[len("REASON_"):]
	}
	b := []byte(name)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// wrapErr turns an error from a Connect call into an *Error, or into
// ErrUnreachable naming the address when no agent answered.
func (c *Client) wrapErr(err error) error {
	if err == nil {
		return nil
	}
	var ce *connect.Error
	if !errors.As(err, &ce) {
		return err
	}
	var opErr *net.OpError
	if ce.Code() == connect.CodeUnavailable && errors.As(err, &opErr) && opErr.Op == "dial" {
		return fmt.Errorf("%w: cannot reach a nefele agent at %s (%v); is one running? Start one with `nefele dev`, or set --addr / NEFELE_ADDR",
			ErrUnreachable, c.addr, opErr.Err)
	}
	e := &Error{Code: ce.Code(), Message: ce.Message(), Reason: nefelev1.Reason_REASON_UNSPECIFIED}
	for _, d := range ce.Details() {
		v, derr := d.Value()
		if derr != nil {
			continue
		}
		if ed, ok := v.(*nefelev1.ErrorDetail); ok {
			e.Reason, e.Subject = ed.Reason, ed.Subject
		}
	}
	if e.Message == "" {
		e.Message = ce.Error()
	}
	return e
}
