package nefele

import (
	"context"
	"fmt"
	"sync"

	"connectrpc.com/connect"

	nefelev1 "github.com/nefele/nefele/api/nefele/v1"
)

// Mutex is a cluster-wide lock of the tenant. Held by a managed process
// (a client made by Connect in it), it is released when the process ends,
// however it ends; held by any other client, it lives on the client's
// session, which the client keeps alive until Close (or until its process
// dies: then the cluster releases it within the session's TTL). Each
// holding has a fencing token that strictly increases across holders. A
// Mutex is safe for concurrent use; it holds the lock once at a time.
type Mutex struct {
	c    *Client
	name string

	mu     sync.Mutex // guards the fields below
	lockID string
	token  int64
	lost   <-chan struct{} // closed when the session expired while held
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
	session, lost, err := m.c.holdOn(ctx)
	if err != nil {
		return false, 0, err
	}
	nonce := newNonce()
	var res *nefelev1.LockResponse
	err = m.c.inPlace(ctx, func() error {
		r, err := m.c.locks.Lock(ctx, connect.NewRequest(&nefelev1.LockRequest{Name: m.name, Try: try, Session: session, Nonce: nonce}))
		if err == nil {
			res = r.Msg
		}
		return m.c.wrapErr(err)
	}, func(ctx context.Context) error {
		_, err := m.c.locks.Unlock(ctx, connect.NewRequest(&nefelev1.UnlockRequest{Name: m.name, LockId: nonce}))
		return m.c.wrapErr(err)
	})
	if err != nil {
		return false, 0, err
	}
	if !res.Held {
		return false, 0, nil
	}
	m.lockID, m.token, m.lost = res.LockId, res.FencingToken, lost
	return true, res.FencingToken, nil
}

// Token returns the fencing token of the current holding (0: not held).
func (m *Mutex) Token() int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.token
}

// Lost returns a channel closed if the session the lock is held on expired
// (the client could not reach the cluster within the TTL): the lock is no
// longer this client's. It is nil for a managed process, whose lock goes
// only with it, and when the lock is not held.
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
	m.lockID, m.token, m.lost = "", 0, nil
	return m.c.wrapErr(err)
}
