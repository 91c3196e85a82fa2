package apiserver

import (
	"context"
	"errors"

	"connectrpc.com/connect"

	nefelev1 "github.com/nefele/nefele/api/nefele/v1"
	"github.com/nefele/nefele/internal/model"
)

// errorTable is the server half of the error table: each domain error, the
// Connect code it travels as and its stable reason. The SDK holds the client
// half (sdk/errors.go), keyed by the same reasons.
var errorTable = []struct {
	err    error
	code   connect.Code
	reason nefelev1.Reason
}{
	{model.ErrNoProcess, connect.CodeNotFound, nefelev1.Reason_REASON_NO_SUCH_PROCESS},
	{model.ErrInvalid, connect.CodeInvalidArgument, nefelev1.Reason_REASON_INVALID_ARGUMENT},
	{model.ErrNameInUse, connect.CodeAlreadyExists, nefelev1.Reason_REASON_NAME_IN_USE},
	{model.ErrNotFound, connect.CodeFailedPrecondition, nefelev1.Reason_REASON_EXECUTABLE_NOT_FOUND},
	{model.ErrNotExecutable, connect.CodeFailedPrecondition, nefelev1.Reason_REASON_NOT_EXECUTABLE},
	{model.ErrStart, connect.CodeFailedPrecondition, nefelev1.Reason_REASON_START_FAILED},
	{model.ErrNotRunning, connect.CodeFailedPrecondition, nefelev1.Reason_REASON_NOT_RUNNING},
	{model.ErrUnavailable, connect.CodeUnavailable, nefelev1.Reason_REASON_UNAVAILABLE},
	{model.ErrNoCapacity, connect.CodeResourceExhausted, nefelev1.Reason_REASON_NO_CAPACITY},
	{model.ErrNotGroup, connect.CodeFailedPrecondition, nefelev1.Reason_REASON_NOT_A_GROUP},
	{model.ErrNoNode, connect.CodeNotFound, nefelev1.Reason_REASON_NO_SUCH_NODE},
	{model.ErrKeyNotFound, connect.CodeNotFound, nefelev1.Reason_REASON_KEY_NOT_FOUND},
	{model.ErrNoName, connect.CodeNotFound, nefelev1.Reason_REASON_NO_SUCH_NAME},
	{model.ErrNotProcess, connect.CodeFailedPrecondition, nefelev1.Reason_REASON_NOT_A_PROCESS},
	{model.ErrUnauthenticated, connect.CodeUnauthenticated, nefelev1.Reason_REASON_UNAUTHENTICATED},
	{model.ErrNotHeld, connect.CodeFailedPrecondition, nefelev1.Reason_REASON_NOT_HELD},
	{model.ErrNoSession, connect.CodeNotFound, nefelev1.Reason_REASON_NO_SUCH_SESSION},
	{model.ErrNoLeader, connect.CodeNotFound, nefelev1.Reason_REASON_NO_LEADER},
	{model.ErrNoMailbox, connect.CodeFailedPrecondition, nefelev1.Reason_REASON_NO_MAILBOX},
	{model.ErrMailboxFull, connect.CodeResourceExhausted, nefelev1.Reason_REASON_MAILBOX_FULL},
	{model.ErrTooLarge, connect.CodeInvalidArgument, nefelev1.Reason_REASON_MESSAGE_TOO_LARGE},
}

// reasonOf returns the wire reason of a domain error (for Process.failure).
func reasonOf(word string) nefelev1.Reason {
	switch word {
	case "executable_not_found":
		return nefelev1.Reason_REASON_EXECUTABLE_NOT_FOUND
	case "not_executable":
		return nefelev1.Reason_REASON_NOT_EXECUTABLE
	case "start_failed":
		return nefelev1.Reason_REASON_START_FAILED
	case "no_capacity":
		return nefelev1.Reason_REASON_NO_CAPACITY
	}
	return nefelev1.Reason_REASON_UNSPECIFIED
}

// toWire turns a domain error into a Connect error carrying an ErrorDetail.
func toWire(err error) error {
	if err == nil {
		return nil
	}
	var ce *connect.Error
	if errors.As(err, &ce) {
		return err
	}
	code, reason := connect.CodeInternal, nefelev1.Reason_REASON_INTERNAL
	switch {
	case errors.Is(err, context.Canceled):
		code, reason = connect.CodeCanceled, nefelev1.Reason_REASON_UNSPECIFIED
	case errors.Is(err, context.DeadlineExceeded):
		code, reason = connect.CodeDeadlineExceeded, nefelev1.Reason_REASON_UNSPECIFIED
	}
	for _, row := range errorTable {
		if errors.Is(err, row.err) {
			code, reason = row.code, row.reason
			break
		}
	}
	detail := &nefelev1.ErrorDetail{Reason: reason}
	var se *model.SubjectError
	if errors.As(err, &se) {
		detail.Subject = se.Subject
	}
	out := connect.NewError(code, errors.New(err.Error()))
	if d, derr := connect.NewErrorDetail(detail); derr == nil {
		out.AddDetail(d)
	}
	return out
}
