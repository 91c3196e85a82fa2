package nefele

import (
	"context"
	"fmt"
	"sync"

	"connectrpc.com/connect"

	nefelev1 "github.com/nefele/nefele/api/nefele/v1"
)

// ElectionLeader is the leader of an election.
type ElectionLeader = nefelev1.ElectionLeader

// Election is a leader election of the tenant. A candidacy is the calling
// process's (it ends with the process, however it ends) or, for a client
// that is no managed process, its session's (see Mutex). The leader is the
// candidate that has waited longest; the revision of its term strictly
// increases from leader to leader.
type Election struct {
	c    *Client
	name string

	mu        sync.Mutex // guards the fields below
	candidacy string
	revision  int64
	lost      <-chan struct{}
}

// Election returns the election name of the client's tenant.
func (c *Client) Election(name string) *Election { return &Election{c: c, name: name} }

// Campaign waits until this candidate leads the election and returns the
// revision of its term. value is what Leader and Observe tell others.
func (e *Election) Campaign(ctx context.Context, value []byte) (int64, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.candidacy != "" {
		return 0, fmt.Errorf("campaign %s: this Election campaigns already", e.name)
	}
	session, lost, err := e.c.holdOn(ctx)
	if err != nil {
		return 0, err
	}
	nonce := newNonce()
	var res *nefelev1.CampaignResponse
	err = e.c.inPlace(ctx, func() error {
		r, err := e.c.elect.Campaign(ctx, connect.NewRequest(&nefelev1.CampaignRequest{Name: e.name, Value: value, Session: session, Nonce: nonce}))
		if err == nil {
			res = r.Msg
		}
		return e.c.wrapErr(err)
	}, func(ctx context.Context) error {
		_, err := e.c.elect.Resign(ctx, connect.NewRequest(&nefelev1.ResignRequest{Name: e.name, Candidacy: nonce}))
		return e.c.wrapErr(err)
	})
	if err != nil {
		return 0, err
	}
	e.candidacy, e.revision, e.lost = res.Candidacy, res.Revision, lost
	return res.Revision, nil
}

// Resign ends this candidacy: another candidate leads.
func (e *Election) Resign(ctx context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.candidacy == "" {
		return fmt.Errorf("%w: resign %s: this Election does not campaign", ErrNotHeld, e.name)
	}
	_, err := e.c.elect.Resign(ctx, connect.NewRequest(&nefelev1.ResignRequest{Name: e.name, Candidacy: e.candidacy}))
	e.candidacy, e.revision, e.lost = "", 0, nil
	return e.c.wrapErr(err)
}

// Lost returns a channel closed if the session of a leading client that is
// no process expired: it leads no more. Nil for a managed process.
func (e *Election) Lost() <-chan struct{} {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.lost
}

// Leader returns the leader; none is an error matching ErrNoLeader.
func (e *Election) Leader(ctx context.Context) (*ElectionLeader, error) {
	res, err := e.c.elect.Leader(ctx, connect.NewRequest(&nefelev1.LeaderRequest{Name: e.name}))
	if err != nil {
		return nil, e.c.wrapErr(err)
	}
	return res.Msg.Leader, nil
}

// Observe calls fn with the leader as it is now (nil: none), then at each
// change, until ctx is done or fn returns an error.
func (e *Election) Observe(ctx context.Context, fn func(*ElectionLeader) error) error {
	stream, err := e.c.elect.Observe(ctx, connect.NewRequest(&nefelev1.ObserveRequest{Name: e.name}))
	if err != nil {
		return e.c.wrapErr(err)
	}
	return receive(ctx, e.c, stream, func(m *nefelev1.ObserveResponse) error { return fn(m.Leader) })
}

// Barrier waits until n participants (this one included) have arrived at
// the barrier name, and returns how many had. A participant that dies
// while it waits leaves. A barrier opens once: later arrivals pass at once,
// so use a new name for each round.
func (c *Client) Barrier(ctx context.Context, name string, n int) (int, error) {
	session, _, err := c.holdOn(ctx)
	if err != nil {
		return 0, err
	}
	nonce := newNonce()
	var arrived int
	err = c.inPlace(ctx, func() error {
		r, err := c.barrier.Wait(ctx, connect.NewRequest(&nefelev1.BarrierServiceWaitRequest{Name: name, Count: int32(n), Session: session, Nonce: nonce}))
		if err == nil {
			arrived = int(r.Msg.Arrived)
		}
		return c.wrapErr(err)
	}, func(context.Context) error {
		// A barrier place goes with the call that waits in it, or with its
		// session: there is nothing to remove by hand.
		return nil
	})
	return arrived, err
}
