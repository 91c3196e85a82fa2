package agent

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/nefele/nefele/internal/apiserver"
	"github.com/nefele/nefele/internal/model"
	"github.com/nefele/nefele/internal/store"
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

// entry is a place in a queue (of a lock, an election or a barrier) that
// enter made on behalf of a caller.
type entry struct {
	id     string // the lease and a nonce: each entry has its own place
	lease  clientv3.LeaseID
	opened bool // the session was opened for this entry alone
	place  store.Place
}

// enter puts a place for the caller in the queue at prefix: on the given
// session's lease, the calling process's, or a session opened for it. The
// place's value is a queued record: who holds it, and a payload.
func (a *Agent) enter(ctx context.Context, caller *model.Process, prefix string, session int64, ttl time.Duration, payload []byte) (entry, error) {
	lease, opened, err := a.holder(ctx, caller, session, ttl)
	if err != nil {
		return entry{}, err
	}
	nonce := make([]byte, 6)
	rand.Read(nonce)
	e := entry{id: strconv.FormatInt(int64(lease), 16) + "." + hex.EncodeToString(nonce), lease: lease, opened: opened}
	q := queued{Value: payload}
	switch {
	case opened:
		q.Session = implicitSession
	case session == 0 && caller != nil:
		q.GPID = caller.GPID
	}
	e.place, err = a.store.Enqueue(ctx, prefix, e.id, lease, encodeQueued(q))
	if err != nil {
		a.leave(ctx, e)
		return entry{}, err
	}
	return e, nil
}

// leave removes the place of e, and closes its session if it was opened
// for it.
func (a *Agent) leave(ctx context.Context, e entry) {
	ctx = context.WithoutCancel(ctx)
	if e.place.Made {
		a.store.Dequeue(ctx, e.place.Key)
	}
	if e.opened {
		a.store.CloseSession(ctx, e.lease)
	}
}

// queued is the value of a place in a queue.
type queued struct {
	GPID    model.GPID `json:"gpid,omitempty"`
	Session string     `json:"session,omitempty"` // implicitSession: opened for this place alone
	Value   []byte     `json:"value,omitempty"`
}

func encodeQueued(q queued) string {
	b, _ := json.Marshal(q)
	return string(b)
}

func decodeQueued(s []byte) queued {
	var q queued
	json.Unmarshal(s, &q)
	return q
}

// Lock implements apiserver.Backend.
func (a *Agent) Lock(ctx context.Context, caller *model.Process, name string, try bool, session int64, ttl time.Duration) (apiserver.LockResult, error) {
	if err := model.ValidateKey(name); err != nil {
		return apiserver.LockResult{}, err
	}
	queue := a.store.LockQueue(name)
	e, err := a.enter(ctx, caller, queue, session, ttl, nil)
	if err != nil {
		return apiserver.LockResult{}, err
	}
	res := apiserver.LockResult{LockID: e.id, FencingToken: e.place.Rev}
	if e.opened || session != 0 {
		res.Session, res.TTL = int64(e.lease), ttl
		if res.TTL <= 0 {
			res.TTL = a.cfg.LeaseTTL
		}
	}
	if !e.place.First && try {
		a.leave(ctx, e)
		holder, _, err := a.store.Holder(ctx, queue)
		return apiserver.LockResult{Holder: holder}, err
	}
	if !e.place.First {
		if err := a.store.WaitFirst(ctx, queue, e.place.Rev); err != nil {
			a.leave(ctx, e)
			return apiserver.LockResult{}, err
		}
	}
	res.Held = true
	return res, nil
}

// Unlock implements apiserver.Backend.
func (a *Agent) Unlock(ctx context.Context, name, lockID string) error {
	if err := model.ValidateKey(name); err != nil {
		return err
	}
	id, err := parseEntryID(lockID, "lock id")
	if err != nil {
		return err
	}
	return a.releasePlace(ctx, a.store.LockKey(name, lockID), id, func() error {
		return &model.SubjectError{Subject: name, Err: model.ErrNotHeld,
			Msg: fmt.Sprintf("lock %s is not held by %s (released already, or its holder ended)", name, lockID)}
	})
}

// releasePlace removes the place at key, of lease, closing the session opened
// for it; notThere is the error when there is no such place.
func (a *Agent) releasePlace(ctx context.Context, key string, lease int64, notThere func() error) error {
	value, ok, err := a.store.Dequeue(ctx, key)
	if err != nil {
		return err
	}
	if !ok {
		return notThere()
	}
	if decodeQueued([]byte(value)).Session == implicitSession {
		a.store.CloseSession(ctx, clientv3.LeaseID(lease))
	}
	return nil
}

// parseEntryID returns the lease of an entry id (LEASE.NONCE).
func parseEntryID(id, what string) (int64, error) {
	leaseHex, _, _ := strings.Cut(id, ".")
	lease, err := strconv.ParseInt(leaseHex, 16, 64)
	if err != nil || lease == 0 || !strings.Contains(id, ".") || strings.Contains(id, "/") {
		return 0, model.Invalid(id, fmt.Sprintf("invalid %s %q: use the one the agent returned", what, id))
	}
	return lease, nil
}

// implicitSession marks a lock held on a session that Lock opened for it.
const implicitSession = "session"

// KeepAlive implements apiserver.Backend.
func (a *Agent) KeepAlive(ctx context.Context, session int64) (time.Duration, error) {
	ttl, err := a.store.KeepAliveSession(ctx, clientv3.LeaseID(session))
	return time.Duration(ttl) * time.Second, err
}
