package nefele

import (
	"context"
	"errors"
	"sync"
	"time"

	"connectrpc.com/connect"

	nefelev1 "github.com/nefele/nefele/api/nefele/v1"
)

// session is the lease a client that is no managed process holds its
// locks and candidacies on: opened on first use, kept alive by the client
// until Close, released by the cluster within its TTL if the client dies.
type session struct {
	mu   sync.Mutex // guards the fields below
	id   int64
	lost chan struct{} // closed when the session expired
	stop chan struct{} // closed by Close
}

// holdOn returns the session to hold on (0 for a managed process, which
// holds on its own lease) and a channel closed if it expires.
func (c *Client) holdOn(ctx context.Context) (int64, <-chan struct{}, error) {
	if c.token != "" {
		return 0, nil, nil
	}
	s := &c.sess
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.id != 0 {
		select {
		case <-s.lost:
		default:
			return s.id, s.lost, nil
		}
	}
	res, err := c.locks.OpenSession(ctx, connect.NewRequest(&nefelev1.OpenSessionRequest{}))
	if err != nil {
		return 0, nil, c.wrapErr(err)
	}
	s.id, s.lost, s.stop = res.Msg.Session, make(chan struct{}), make(chan struct{})
	go c.keepSession(s.id, time.Duration(res.Msg.TtlMs)*time.Millisecond, s.stop, s.lost)
	return s.id, s.lost, nil
}

// keepSession renews session id every third of its ttl until stop is
// closed, and closes lost if it expires.
func (c *Client) keepSession(id int64, ttl time.Duration, stop, lost chan struct{}) {
	t := time.NewTicker(max(ttl/3, 100*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), ttl)
		_, err := c.locks.KeepAlive(ctx, connect.NewRequest(&nefelev1.KeepAliveRequest{Session: id}))
		cancel()
		if err != nil && errors.Is(c.wrapErr(err), ErrNoSession) {
			close(lost)
			return
		}
	}
}

// closeSession closes the client's session, if it has one: what it holds
// is released at once.
func (c *Client) closeSession() {
	s := &c.sess
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.id == 0 {
		return
	}
	close(s.stop)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	c.locks.CloseSession(ctx, connect.NewRequest(&nefelev1.CloseSessionRequest{Session: s.id}))
	s.id = 0
}
