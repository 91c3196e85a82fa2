package nefele

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"connectrpc.com/connect"

	nefelev1 "github.com/nefele/nefele/api/nefele/v1"
	"github.com/nefele/nefele/sdk/mailbox"
)

// Message is one message received: From is the sender's GPID ("" when the
// sender is no process), Body what it sent; when IsCall, Reply answers it.
type Message = mailbox.Message

// MailboxOptions bound a process's mailbox; zero fields take the defaults
// (1 MiB per message, 16 MiB waiting in all, 4 MiB of room per sender).
type MailboxOptions = mailbox.Options

// mailboxes is a client's messaging: its own mailbox, when it opened one,
// and its connections to others'.
type mailboxes struct {
	mu   sync.Mutex
	box  *mailbox.Mailbox
	pool *mailbox.Pool
}

// OpenMailbox opens the calling process's mailbox (see Connect), so that
// others can Send and Call to it, by its GPID or a name it registers.
// Receive and Register open it with the defaults, so a program calls
// OpenMailbox only to choose its bounds, or to be reachable before it
// calls either. A second call changes nothing.
func (c *Client) OpenMailbox(ctx context.Context, opts MailboxOptions) error {
	_, err := c.openMailbox(ctx, opts)
	return err
}

func (c *Client) openMailbox(ctx context.Context, opts MailboxOptions) (*mailbox.Mailbox, error) {
	c.mail.mu.Lock()
	defer c.mail.mu.Unlock()
	if c.mail.box != nil {
		return c.mail.box, nil
	}
	if c.self == "" {
		return nil, fmt.Errorf("%w: a mailbox belongs to a managed process: call from a process Nefele runs (Connect reads its %s)", ErrNotProcess, EnvGPID)
	}
	host, _, err := net.SplitHostPort(c.addr)
	if err != nil {
		return nil, fmt.Errorf("open the mailbox: the agent address %q has no host: %w", c.addr, err)
	}
	key := make([]byte, 32)
	rand.Read(key)
	box, err := mailbox.Listen(net.JoinHostPort(host, "0"), c.self, key, opts, slog.Default())
	if err != nil {
		return nil, err
	}
	_, err = c.mailboxes.OpenMailbox(ctx, connect.NewRequest(&nefelev1.OpenMailboxRequest{
		Address: box.Addr(), Key: key, MaxMessageBytes: int64(box.Options().MaxMessage)}))
	if err != nil {
		box.Close()
		return nil, c.wrapErr(err)
	}
	c.mail.box = box
	return box, nil
}

// Receive returns the next message in the calling process's mailbox,
// opening it first if needed, and waits for one until ctx ends. Messages
// from one sender come in the order sent.
func (c *Client) Receive(ctx context.Context) (*Message, error) {
	box, err := c.openMailbox(ctx, MailboxOptions{})
	if err != nil {
		return nil, err
	}
	return box.Receive(ctx)
}

// SendOptions change a Send.
type SendOptions struct {
	// FailFast fails with ErrMailboxFull when the receiver's mailbox has
	// no room for the message now, instead of waiting for room until ctx
	// ends.
	FailFast bool
}

// Send puts body in the mailbox of to: a GPID, a registered name, or the
// name of a single process. It goes straight to the receiving process,
// over one connection per receiver that carries all messages and calls;
// messages from one sender arrive in the order sent. Delivery is at most
// once: a nil error means the message left for a live mailbox, not that
// it was received. Send fails with an error matching ErrNoProcess when no
// live process has that GPID or name (and when the process ends), with
// ErrTooLarge when the body is over the mailbox's limit, with ErrNoMailbox
// when the process runs but has opened no mailbox, and with ErrMailboxFull
// when the mailbox has no room: at once when opts.FailFast is set, else
// when ctx ends before the mailbox opens or has room.
func (c *Client) Send(ctx context.Context, to string, body []byte, opts SendOptions) error {
	if c.relay {
		rctx, cancel, ms := relayContext(ctx)
		defer cancel()
		_, err := c.mailboxes.Send(rctx, connect.NewRequest(&nefelev1.SendRequest{Target: to, Body: body, FailFast: opts.FailFast, TimeoutMs: ms}))
		return c.wrapErr(err)
	}
	_, err := c.pool().Send(ctx, to, body, opts.FailFast)
	return messageErr(to, err)
}

// Call sends req to the mailbox of to, as Send does, and waits for the
// reply (see Message.Reply) until ctx ends. It fails with an error
// matching ErrNoProcess at once when the callee ends before it replies,
// also when the callee's node dies (the agent notices within its lease).
func (c *Client) Call(ctx context.Context, to string, req []byte) ([]byte, error) {
	if c.relay {
		rctx, cancel, ms := relayContext(ctx)
		defer cancel()
		res, err := c.mailboxes.Call(rctx, connect.NewRequest(&nefelev1.CallRequest{Target: to, Body: req, TimeoutMs: ms}))
		if err != nil {
			return nil, c.wrapErr(err)
		}
		return res.Msg.Body, nil
	}
	resp, _, err := c.pool().Call(ctx, to, req)
	return resp, messageErr(to, err)
}

// relayContext returns, for a relayed Send or Call, or a Resolve, ctx's
// deadline as a timeout for the agent (0: none) and a context that
// lasts a second longer, so that the agent's answer, which says what it
// waited for, arrives before the client gives up. Cancelling ctx still
// cancels it.
func relayContext(ctx context.Context) (context.Context, context.CancelFunc, int64) {
	dl, ok := ctx.Deadline()
	if !ok {
		return ctx, func() {}, 0
	}
	ms := max(1, time.Until(dl).Milliseconds())
	rctx, cancel := context.WithDeadline(context.WithoutCancel(ctx), dl.Add(time.Second))
	stop := context.AfterFunc(ctx, func() {
		if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
			cancel()
		}
	})
	return rctx, func() { stop(); cancel() }, ms
}

// WithRelay makes the client's Send and Call go through its agent, which
// sends on to the receiving process, instead of straight to the process:
// for a client that reaches its agent but not the cluster's processes
// (the CLI on a laptop). It costs a hop per message.
func WithRelay() DialOption {
	return func(c *Client) { c.relay = true }
}

func (c *Client) pool() *mailbox.Pool {
	c.mail.mu.Lock()
	defer c.mail.mu.Unlock()
	if c.mail.pool == nil {
		c.mail.pool = mailbox.NewPool(c.self, resolver{c})
	}
	return c.mail.pool
}

// closeMailboxes closes the mailbox and the connections to others'.
func (c *Client) closeMailboxes() {
	c.mail.mu.Lock()
	defer c.mail.mu.Unlock()
	if c.mail.box != nil {
		c.mail.box.Close()
	}
	if c.mail.pool != nil {
		c.mail.pool.Close()
	}
}

// resolver is the SDK's mailbox.Resolver: it asks the client's agent.
type resolver struct{ c *Client }

func (r resolver) Resolve(ctx context.Context, target string, wait bool) (mailbox.Route, error) {
	rctx, cancel, ms := relayContext(ctx)
	defer cancel()
	res, err := r.c.mailboxes.Resolve(rctx, connect.NewRequest(&nefelev1.ResolveRequest{Target: target, Wait: wait, TimeoutMs: ms}))
	if err != nil {
		return mailbox.Route{}, r.c.wrapErr(err)
	}
	return mailbox.Route{GPID: res.Msg.Gpid, Address: res.Msg.Address, Ticket: res.Msg.Ticket}, nil
}

func (r resolver) Ended(ctx context.Context, gpid string) (string, error) {
	exit, ok := <-r.c.Monitor(ctx, gpid)
	if !ok {
		return "", ctx.Err()
	}
	if exit.NoProcess {
		return "is gone", nil
	}
	return "has ended (" + strings.ToLower(strings.TrimPrefix(exit.State.String(), "STATE_")) + ")", nil
}

// messageErr makes the errors of the mailbox protocol match the SDK's
// sentinels.
func messageErr(to string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, mailbox.ErrGone), errors.Is(err, mailbox.ErrClosed), errors.Is(err, mailbox.ErrRejected):
		return fmt.Errorf("%w: %s (%w)", ErrNoProcess, to, err)
	}
	return err
}
