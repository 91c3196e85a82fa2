package nefele

import (
	"context"
	"errors"
	"time"

	"connectrpc.com/connect"

	nefelev1 "github.com/nefele/nefele/api/nefele/v1"
)

// Handle is one process, wherever it runs, as Start returns it.
type Handle struct {
	c *Client
	// GPID is the process's global id.
	GPID string
}

// Start places and starts one process of spec, as Spawn does, and returns
// its handle once it runs.
func (c *Client) Start(ctx context.Context, spec *Spec, opts SpawnOptions) (*Handle, error) {
	if opts.Replicas > 0 {
		return nil, errors.New("nefele: Start starts one process; use Spawn for a group")
	}
	procs, err := c.Spawn(ctx, spec, opts)
	if err != nil {
		return nil, err
	}
	return &Handle{c: c, GPID: procs[0].Gpid}, nil
}

// Handle returns the handle of the process gpid.
func (c *Client) Handle(gpid string) *Handle { return &Handle{c: c, GPID: gpid} }

// Record returns the process's record as it is now.
func (h *Handle) Record(ctx context.Context) (*Process, error) {
	procs, err := h.c.Get(ctx, h.GPID)
	if err != nil {
		return nil, err
	}
	return procs[0], nil
}

// Wait waits until the process has ended for good and returns its final record.
func (h *Handle) Wait(ctx context.Context) (*Process, error) {
	procs, err := h.c.Wait(ctx, h.GPID)
	if err != nil {
		return nil, err
	}
	return procs[0], nil
}

// Signal sends sig to the process tree; its restart policy still applies.
func (h *Handle) Signal(ctx context.Context, sig string) error {
	_, err := h.c.Signal(ctx, h.GPID, sig)
	return err
}

// Kill sends SIGKILL to the process tree.
func (h *Handle) Kill(ctx context.Context) error { return h.Signal(ctx, "KILL") }

// Stop ends the process gracefully, for good, and returns its final record.
func (h *Handle) Stop(ctx context.Context) (*Process, error) {
	procs, err := h.c.Stop(ctx, h.GPID, 0)
	if err != nil {
		return nil, err
	}
	return procs[0], nil
}

// Monitor is Client.Monitor of this process.
func (h *Handle) Monitor(ctx context.Context) <-chan Exit { return h.c.Monitor(ctx, h.GPID) }

// Exit is how a monitored process ended.
type Exit struct {
	GPID string
	// State is exited, failed or lost (its node died); NoProcess is set
	// when the process was unknown, or forgotten already.
	State     State
	NoProcess bool
	ExitCode  int32
	Signal    string
	Reason    string
}

// Monitor watches the process gpid and delivers exactly one Exit on the
// returned channel when it has ended for good: at once when it had ended
// already or is unknown, and also when its node died (State lost). The
// channel is closed after the Exit, or without one when ctx ends first.
// Monitor rides out agents that restart and a store that elects a leader.
func (c *Client) Monitor(ctx context.Context, gpid string) <-chan Exit {
	out := make(chan Exit, 1)
	go func() {
		defer close(out)
		for ctx.Err() == nil {
			procs, err := c.Wait(ctx, gpid)
			switch {
			case err == nil:
				p := procs[0]
				out <- Exit{GPID: gpid, State: p.State, ExitCode: p.ExitCode, Signal: p.Signal, Reason: p.Reason}
				return
			case errors.Is(err, ErrNoProcess):
				out <- Exit{GPID: gpid, NoProcess: true, State: nefelev1.State_STATE_UNSPECIFIED, Reason: "no such process: " + gpid}
				return
			}
			select {
			case <-ctx.Done():
			case <-time.After(200 * time.Millisecond):
			}
		}
	}()
	return out
}

// LinkOptions change a Link.
type LinkOptions struct {
	// Trap makes the caller be told of the other's end (see LinkExits)
	// instead of being stopped.
	Trap bool
}

// Link links the calling managed process (see Connect) with gpid, both
// ways, as Erlang does: when one ends for good (exit, kill, or its node's
// death), the other is stopped, gracefully, unless it traps (opts.Trap for
// the caller): then it is told through LinkExits. Linking with a process
// that has ended already fires at once.
func (c *Client) Link(ctx context.Context, gpid string, opts LinkOptions) error {
	_, err := c.procs.Link(ctx, connect.NewRequest(&nefelev1.LinkRequest{Gpid: gpid, Trap: opts.Trap}))
	return c.wrapErr(err)
}

// Unlink removes the link between the calling process and gpid.
func (c *Client) Unlink(ctx context.Context, gpid string) error {
	_, err := c.procs.Unlink(ctx, connect.NewRequest(&nefelev1.UnlinkRequest{Gpid: gpid}))
	return c.wrapErr(err)
}

// LinkExits calls fn with the final record of each process that the
// calling process is linked with, traps, and that ended: first those that
// ended while nobody listened, then each as it ends, until ctx is done or
// fn returns an error.
func (c *Client) LinkExits(ctx context.Context, fn func(*Process) error) error {
	stream, err := c.procs.LinkExits(ctx, connect.NewRequest(&nefelev1.LinkExitsRequest{}))
	if err != nil {
		return c.wrapErr(err)
	}
	return receive(ctx, c, stream, func(m *nefelev1.LinkExitsResponse) error { return fn(m.Process) })
}

// Endpoint is one live named port of one process.
type Endpoint = nefelev1.Endpoint

// Ports returns the live endpoints of service (a group, a name or a GPID;
// "" for all): the named ports that accept connections now.
func (c *Client) Ports(ctx context.Context, service string) ([]*Endpoint, error) {
	res, err := c.ports.ListPorts(ctx, connect.NewRequest(&nefelev1.ListPortsRequest{Service: service}))
	if err != nil {
		return nil, c.wrapErr(err)
	}
	return res.Msg.Endpoints, nil
}
