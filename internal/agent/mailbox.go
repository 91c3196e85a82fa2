package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/nefele/nefele/internal/model"
	"github.com/nefele/nefele/sdk/mailbox"
)

// A mailbox lives in its process (the SDK listens for it); the agent
// publishes where, bound to the process's run, resolves targets to it,
// makes the tickets that admit senders, and relays for senders that are
// no SDK program. See sdk/mailbox.

// OpenMailbox implements apiserver.Backend.
func (a *Agent) OpenMailbox(ctx context.Context, caller *model.Process, address string, key []byte, maxMessage int64) error {
	p, err := needCaller(caller, "opening a mailbox")
	if err != nil {
		return err
	}
	if _, _, err := net.SplitHostPort(address); err != nil {
		return model.Invalid(address, fmt.Sprintf("invalid mailbox address %q: give HOST:PORT", address))
	}
	if len(key) < 16 {
		return model.Invalid("", fmt.Sprintf("a mailbox key of %d bytes is too short: give at least 16 random bytes", len(key)))
	}
	if maxMessage <= 0 {
		return model.Invalid("", fmt.Sprintf("invalid max_message_bytes %d: give the largest body the mailbox takes, 1 or more", maxMessage))
	}
	lease, err := a.leaseOf(ctx, p)
	if err != nil {
		return err
	}
	return a.store.PutMailbox(ctx, model.MailboxEndpoint{GPID: p.GPID, Address: address, Key: key, MaxMessage: maxMessage}, lease)
}

// ResolveMailbox implements apiserver.Backend: the route from caller (nil
// for a client that is no process) to the mailbox of target.
func (a *Agent) ResolveMailbox(ctx context.Context, caller *model.Process, target string, wait bool) (mailbox.Route, int64, error) {
	gpid, err := a.mailboxTarget(ctx, target)
	if err != nil {
		return mailbox.Route{}, 0, err
	}
	var from string
	if caller != nil {
		from = string(caller.GPID)
	}
	for {
		mb, ok, err := a.store.Mailbox(ctx, gpid)
		if err != nil {
			return mailbox.Route{}, 0, err
		}
		if ok {
			return mailbox.Route{GPID: string(gpid), Address: mb.Address, Ticket: mailbox.Ticket(mb.Key, from, string(gpid))}, mb.MaxMessage, nil
		}
		p, _, err := a.store.Get(ctx, gpid)
		if err != nil {
			return mailbox.Route{}, 0, err
		}
		if p.State.Ended() {
			return mailbox.Route{}, 0, &model.SubjectError{Subject: target, Err: model.ErrNoProcess,
				Msg: fmt.Sprintf("no such process: %s (%s is %s)", target, gpid, p.State)}
		}
		if !wait {
			return mailbox.Route{}, 0, &model.SubjectError{Subject: target, Err: model.ErrNoMailbox,
				Msg: fmt.Sprintf("%s runs but has not opened its mailbox: it opens when the program calls Receive, Register or OpenMailbox of the Go SDK", gpid)}
		}
		// Wait for the mailbox; look at the process again now and then, as
		// its end changes no mailbox key.
		wctx, cancel := context.WithTimeout(ctx, time.Second)
		err = a.store.UntilMailbox(wctx, gpid, func() (bool, error) {
			_, ok, err := a.store.Mailbox(wctx, gpid)
			return ok, err
		})
		cancel()
		if ctx.Err() != nil {
			return mailbox.Route{}, 0, &model.SubjectError{Subject: target, Err: model.ErrNoMailbox,
				Msg: fmt.Sprintf("%s runs but opened no mailbox before the deadline: it opens when the program calls Receive, Register or OpenMailbox of the Go SDK", gpid)}
		}
		if err != nil && !errors.Is(err, context.DeadlineExceeded) {
			return mailbox.Route{}, 0, err
		}
	}
}

// mailboxTarget returns the GPID target names: a GPID, a registered name,
// or the name of a single process.
func (a *Agent) mailboxTarget(ctx context.Context, target string) (model.GPID, error) {
	if target == "" {
		return "", model.Invalid("", "missing target: give a GPID or a registered name")
	}
	if model.IsGPID(target) {
		return model.GPID(target), nil
	}
	if err := model.ValidateName(target); err != nil {
		return "", model.Invalid(target, fmt.Sprintf("invalid target %q: give a GPID or a registered name", target))
	}
	reg, err := a.store.Lookup(ctx, target)
	if err == nil {
		return reg.GPID, nil
	}
	if !errors.Is(err, model.ErrNoName) {
		return "", err
	}
	procs, err := a.store.Resolve(ctx, target)
	if err != nil {
		return "", err
	}
	var live []model.GPID
	for _, p := range procs {
		if !p.State.Ended() {
			live = append(live, p.GPID)
		}
	}
	switch {
	case len(live) == 1:
		return live[0], nil
	case len(live) > 1:
		return "", model.Invalid(target, fmt.Sprintf("%s is a group of %d processes: send to one by its GPID, or to a name one of them registers", target, len(live)))
	}
	return "", model.NoProcess(target)
}

// relay returns the pool the agent sends through for caller (nil for a
// client that is no process): tickets name the sender, so each has its own.
func (a *Agent) relay(caller *model.Process) *mailbox.Pool {
	var from model.GPID
	if caller != nil {
		from = caller.GPID
	}
	a.relaysMu.Lock()
	defer a.relaysMu.Unlock()
	p, ok := a.relays[from]
	if !ok {
		p = mailbox.NewPool(string(from), relayResolver{a, caller})
		a.relays[from] = p
	}
	return p
}

// dropRelay closes the relay pool of gpid, whose run has ended.
func (a *Agent) dropRelay(gpid model.GPID) {
	a.relaysMu.Lock()
	p := a.relays[gpid]
	delete(a.relays, gpid)
	a.relaysMu.Unlock()
	if p != nil {
		p.Close()
	}
}

// relayResolver resolves for the relay pool of one sender.
type relayResolver struct {
	a      *Agent
	caller *model.Process
}

func (r relayResolver) Resolve(ctx context.Context, target string, wait bool) (mailbox.Route, error) {
	route, _, err := r.a.ResolveMailbox(ctx, r.caller, target, wait)
	return route, err
}

func (r relayResolver) Ended(ctx context.Context, gpid string) (string, error) {
	p, err := r.a.store.WaitEnded(ctx, model.GPID(gpid))
	if err != nil {
		return "", err
	}
	return "has ended (" + string(p.State) + ")", nil
}

// SendMessage implements apiserver.Backend: it relays one message.
func (a *Agent) SendMessage(ctx context.Context, caller *model.Process, target string, body []byte, failFast bool) (model.GPID, error) {
	gpid, err := a.relay(caller).Send(ctx, target, body, failFast)
	return model.GPID(gpid), mailboxErr(target, err)
}

// CallMessage implements apiserver.Backend: it relays one call.
func (a *Agent) CallMessage(ctx context.Context, caller *model.Process, target string, body []byte) ([]byte, model.GPID, error) {
	resp, gpid, err := a.relay(caller).Call(ctx, target, body)
	return resp, model.GPID(gpid), mailboxErr(target, err)
}

// mailboxErr turns the errors of sdk/mailbox into the domain's.
func mailboxErr(target string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, mailbox.ErrFull):
		return &model.SubjectError{Subject: target, Err: model.ErrMailboxFull, Msg: err.Error()}
	case errors.Is(err, mailbox.ErrTooLarge):
		return &model.SubjectError{Subject: target, Err: model.ErrTooLarge, Msg: err.Error()}
	case errors.Is(err, mailbox.ErrGone), errors.Is(err, mailbox.ErrClosed), errors.Is(err, mailbox.ErrRejected):
		return &model.SubjectError{Subject: target, Err: model.ErrNoProcess, Msg: "no such process: " + target + " (" + err.Error() + ")"}
	}
	return err
}
