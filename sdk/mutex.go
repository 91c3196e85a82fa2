package nefele

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"connectrpc.com/connect"

	nefelev1 "github.com/nefele/nefele/api/nefele/v1"
)

// Mutex is a cluster-wide lock of the tenant. Held by a managed process
// (a client made by Connect in it), it is released when the process ends,
// however it ends; held by any other client, it lives on a session that
// the Mutex keeps alive until Unlock (or until the client's process dies:
// then within the session's TTL). Each holding has a fencing token that
// strictly increases across holders. A Mutex is safe for concurrent use;
// it holds the lock once at a time.
type Mutex struct {
	c    *Client
	name string

	mu      sync.Mutex // guards the fields below
	lockID  string
	token   int64
	session int64
	stop    chan struct{} // closed to stop keeping the session alive
	lost    chan struct{} // closed when the session expired while held
}

// Mutex returns the lock name of the client's tenant.
func (c *Client) Mutex(name string) *Mutex { return &Mutex{c: c, name: name} }

// Lock takes the lock, waiting in line while another holds it, and returns
// the fencing token of this holding.
func (m *Mutex) Lock(ctx context.Context) (int64, error) {
	held, token, err := m.lock(ctx, false)
	if err == nil && !held {
		err = fmt.Errorf("lock %s: the agent answered without the lock", m.name)
	}
	return token, err
}

// TryLock takes the lock if it is free and reports whether it did.
func (m *Mutex) TryLock(ctx context.Context) (bool, int64, error) {
	return m.lock(ctx, true)
}

func (m *Mutex) lock(ctx context.Context, try bool) (bool, int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.lockID != "" {
		return false, 0, fmt.Errorf("lock %s: this Mutex holds it already (token %d)", m.name, m.token)
	}
	res, err := m.c.locks.Lock(ctx, connect.NewRequest(&nefelev1.LockRequest{Name: m.name, Try: try}))
	if err != nil {
		return false, 0, m.c.wrapErr(err)
	}
	r := res.Msg
	if !r.Held {
		return false, 0, nil
	}
	m.lockID, m.token, m.session = r.LockId, r.FencingToken, r.Session
	m.lost = make(chan struct{})
	if r.Session != 0 {
		m.stop = make(chan struct{})
		go m.keepAlive(r.Session, time.Duration(r.TtlMs)*time.Millisecond, m.stop, m.lost)
	}
	return true, r.FencingToken, nil
}

// keepAlive renews session every third of its ttl until stop is closed,
// and closes lost if the session expires.
func (m *Mutex) keepAlive(session int64, ttl time.Duration, stop, lost chan struct{}) {
	t := time.NewTicker(max(ttl/3, 100*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), ttl)
		_, err := m.c.locks.KeepAlive(ctx, connect.NewRequest(&nefelev1.KeepAliveRequest{Session: session}))
		cancel()
		if err != nil && errors.Is(m.c.wrapErr(err), ErrNoSession) {
			close(lost)
			return
		}
	}
}

// Token returns the fencing token of the current holding (0: not held).
func (m *Mutex) Token() int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.token
}

// Lost returns a channel closed if the lock's session expired while held
// (the client could not reach the cluster within the TTL): the lock is no
// longer this client's. It is nil when the lock is not held.
func (m *Mutex) Lost() <-chan struct{} {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.lost
}

// Unlock releases the lock. It fails with an error matching ErrNotHeld when
// the lock was not held by this Mutex (any more).
func (m *Mutex) Unlock(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.lockID == "" {
		return fmt.Errorf("%w: unlock %s: this Mutex does not hold it", ErrNotHeld, m.name)
	}
	_, err := m.c.locks.Unlock(ctx, connect.NewRequest(&nefelev1.UnlockRequest{Name: m.name, LockId: m.lockID}))
	if m.stop != nil {
		close(m.stop)
		m.stop = nil
	}
	m.lockID, m.token, m.session, m.lost = "", 0, 0, nil
	return m.c.wrapErr(err)
}
