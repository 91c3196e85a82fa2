package agent

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/nefele/nefele/internal/apiserver"
	"github.com/nefele/nefele/internal/model"
)

// OpenSession implements apiserver.Backend.
func (a *Agent) OpenSession(ctx context.Context, ttl time.Duration) (int64, time.Duration, error) {
	ttl, err := a.sessionTTL(ttl)
	if err != nil {
		return 0, 0, err
	}
	id, err := a.store.OpenSession(ctx, int64(ttl/time.Second))
	return int64(id), ttl, err
}

// CloseSession implements apiserver.Backend.
func (a *Agent) CloseSession(ctx context.Context, session int64) error {
	return a.store.CloseSession(ctx, clientv3.LeaseID(session))
}

// sessionTTL checks a session's ttl; 0 is the agent's lease TTL.
func (a *Agent) sessionTTL(ttl time.Duration) (time.Duration, error) {
	if ttl == 0 {
		ttl = a.cfg.LeaseTTL
	}
	if ttl < time.Second || ttl%time.Second != 0 {
		return 0, model.Invalid(ttl.String(), fmt.Sprintf("invalid session ttl %s: use whole seconds, 1s or more", ttl))
	}
	return ttl, nil
}

// holder returns the lease to hold a lock (or a candidacy) on: the given
// session's, the calling process's, or a new session of ttl for a caller
// that is no process (opened reports that).
func (a *Agent) holder(ctx context.Context, caller *model.Process, session int64, ttl time.Duration) (lease clientv3.LeaseID, opened bool, err error) {
	switch {
	case session != 0:
		return clientv3.LeaseID(session), false, a.store.SessionAlive(ctx, clientv3.LeaseID(session))
	case caller != nil:
		lease, err := a.leaseOf(ctx, caller)
		return lease, false, err
	}
	ttl, err = a.sessionTTL(ttl)
	if err != nil {
		return 0, false, err
	}
	lease, err = a.store.OpenSession(ctx, int64(ttl/time.Second))
	return lease, err == nil, err
}

// Lock implements apiserver.Backend.
func (a *Agent) Lock(ctx context.Context, caller *model.Process, name string, try bool, session int64, ttl time.Duration) (apiserver.LockResult, error) {
	if err := model.ValidateKey(name); err != nil {
		return apiserver.LockResult{}, err
	}
	lease, opened, err := a.holder(ctx, caller, session, ttl)
	if err != nil {
		return apiserver.LockResult{}, err
	}
	// A lock id is the holder's lease and a nonce: each Lock has its own
	// place in the queue, even two of one holder.
	nonce := make([]byte, 6)
	rand.Read(nonce)
	res := apiserver.LockResult{LockID: strconv.FormatInt(int64(lease), 16) + "." + hex.EncodeToString(nonce)}
	if opened || session != 0 {
		res.Session = int64(lease)
		res.TTL = ttl
		if res.TTL <= 0 {
			res.TTL = a.cfg.LeaseTTL
		}
	}
	undo := func() {
		if opened {
			a.store.CloseSession(context.WithoutCancel(ctx), lease)
		}
	}
	// The key's value says who holds: a GPID, a session opened for this
	// lock alone (closed with it), or a session of the caller's.
	owner := "-"
	switch {
	case opened:
		owner = implicitSession
	case session == 0 && caller != nil:
		owner = string(caller.GPID)
	}
	queue := a.store.LockQueue(name)
	place, err := a.store.Enqueue(ctx, queue, res.LockID, lease, owner)
	if err != nil {
		undo()
		return apiserver.LockResult{}, err
	}
	res.FencingToken = place.Rev
	if place.First {
		res.Held = true
		return res, nil
	}
	if try {
		if place.Made {
			a.store.Dequeue(context.WithoutCancel(ctx), place.Key)
		}
		undo()
		holder, _, err := a.store.Holder(ctx, queue)
		return apiserver.LockResult{Holder: holder}, err
	}
	if err := a.store.WaitFirst(ctx, queue, place.Rev); err != nil {
		if place.Made {
			a.store.Dequeue(context.WithoutCancel(ctx), place.Key)
		}
		undo()
		return apiserver.LockResult{}, err
	}
	res.Held = true
	return res, nil
}

// Unlock implements apiserver.Backend.
func (a *Agent) Unlock(ctx context.Context, name, lockID string) error {
	if err := model.ValidateKey(name); err != nil {
		return err
	}
	leaseHex, _, _ := strings.Cut(lockID, ".")
	id, err := strconv.ParseInt(leaseHex, 16, 64)
	if err != nil || id == 0 || !strings.Contains(lockID, ".") || strings.Contains(lockID, "/") {
		return model.Invalid(lockID, fmt.Sprintf("invalid lock id %q: use the lock_id that Lock returned", lockID))
	}
	owner, ok, err := a.store.Dequeue(ctx, a.store.LockKey(name, lockID))
	if err == nil && !ok {
		err = &model.SubjectError{Subject: name, Err: model.ErrNotHeld,
			Msg: fmt.Sprintf("lock %s is not held by %s (released already, or its holder ended)", name, lockID)}
	}
	if err == nil && owner == implicitSession {
		a.store.CloseSession(ctx, clientv3.LeaseID(id))
	}
	return err
}

// implicitSession marks a lock held on a session that Lock opened for it.
const implicitSession = "session"

// KeepAlive implements apiserver.Backend.
func (a *Agent) KeepAlive(ctx context.Context, session int64) (time.Duration, error) {
	ttl, err := a.store.KeepAliveSession(ctx, clientv3.LeaseID(session))
	return time.Duration(ttl) * time.Second, err
}
