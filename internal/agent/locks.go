package agent

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"regexp"
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

// KeepAlive implements apiserver.Backend.
func (a *Agent) KeepAlive(ctx context.Context, session int64) (time.Duration, error) {
	ttl, err := a.store.KeepAliveSession(ctx, clientv3.LeaseID(session))
	return time.Duration(ttl) * time.Second, err
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

// entry is a place in a queue (of a lock, an election or a barrier) that
// enter made on behalf of a caller.
type entry struct {
	id    string // the place's nonce: its key in the queue
	lease clientv3.LeaseID
	// opened is set when the session was opened for this entry alone; the
	// agent keeps it alive while the call lasts (stopKeep ends that), and
	// hands it to the caller when the call returns holding.
	opened   bool
	ttl      time.Duration // of the session the entry is on, if any
	stopKeep context.CancelFunc
	place    store.Place
}

// nonceRE is what a caller-chosen nonce looks like.
var nonceRE = regexp.MustCompile(`^[0-9a-f]{1,32}$`)

func checkNonce(nonce string) error {
	if nonce != "" && !nonceRE.MatchString(nonce) {
		return model.Invalid(nonce, fmt.Sprintf("invalid nonce %q: use 1 to 32 lower-case hex digits, chosen at random", nonce))
	}
	return nil
}

// enter puts a place for the caller in the queue at prefix: on the given
// session's lease, the calling process's, or a session opened for it. The
// place's key is nonce (one is drawn when it is ""); entering again with
// the same nonce finds the same place. Its value is a queued record.
func (a *Agent) enter(ctx context.Context, caller *model.Process, prefix string, session int64, ttl time.Duration, payload []byte, nonce string) (entry, error) {
	if err := checkNonce(nonce); err != nil {
		return entry{}, err
	}
	if nonce == "" {
		b := make([]byte, 8)
		rand.Read(b)
		nonce = hex.EncodeToString(b)
	}
	e := entry{id: nonce, stopKeep: func() {}}
	q := queued{Value: payload}
	var err error
	switch {
	case session != 0:
		e.lease = clientv3.LeaseID(session)
		var granted int64
		if granted, err = a.store.SessionAlive(ctx, e.lease); err != nil {
			return entry{}, err
		}
		e.ttl = time.Duration(granted) * time.Second
	case caller != nil:
		if e.lease, err = a.leaseOf(ctx, caller); err != nil {
			return entry{}, err
		}
		q.GPID = caller.GPID
	default:
		if e.ttl, err = a.sessionTTL(ttl); err != nil {
			return entry{}, err
		}
		if e.lease, err = a.store.OpenSession(ctx, int64(e.ttl/time.Second)); err != nil {
			return entry{}, err
		}
		e.opened, q.Session = true, implicitSession
		e.stopKeep = a.keepDuringCall(e.lease)
	}
	e.place, err = a.store.Enqueue(ctx, prefix, e.id, e.lease, encodeQueued(q))
	if err != nil {
		a.leave(ctx, e)
		return entry{}, err
	}
	return e, nil
}

// keepDuringCall keeps a session opened for a call alive while the call
// waits (its caller cannot: it does not know the session yet); the
// returned func ends that.
func (a *Agent) keepDuringCall(lease clientv3.LeaseID) context.CancelFunc {
	ctx, cancel := context.WithCancel(a.ctx)
	ka, err := a.store.Client().KeepAlive(ctx, lease)
	if err == nil {
		go func() {
			for range ka {
			}
		}()
	}
	return cancel
}

// leave removes the place of e, and closes its session if it was opened
// for it.
func (a *Agent) leave(ctx context.Context, e entry) {
	ctx = context.WithoutCancel(ctx)
	e.stopKeep()
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

// implicitSession marks a place held on a session opened for it alone.
const implicitSession = "session"

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
func (a *Agent) Lock(ctx context.Context, caller *model.Process, name string, try bool, session int64, ttl time.Duration, nonce string) (apiserver.LockResult, error) {
	if err := model.ValidateKey(name); err != nil {
		return apiserver.LockResult{}, err
	}
	queue := a.store.LockQueue(name)
	e, err := a.enter(ctx, caller, queue, session, ttl, nil, nonce)
	if err != nil {
		return apiserver.LockResult{}, err
	}
	res := apiserver.LockResult{LockID: e.id, FencingToken: e.place.Rev}
	if e.opened || session != 0 {
		res.Session, res.TTL = int64(e.lease), e.ttl
	}
	if !e.place.First && try {
		e.place.Made = true // a try leaves no place behind, even one it found
		a.leave(ctx, e)
		holder, _, err := a.store.Holder(ctx, queue)
		return apiserver.LockResult{Holder: holder}, err
	}
	if !e.place.First {
		if err := a.store.WaitFirst(ctx, queue, e.place.Key, e.place.Rev); err != nil {
			a.leave(ctx, e)
			return apiserver.LockResult{}, err
		}
	}
	e.stopKeep() // the caller keeps an opened session alive from now on
	res.Held = true
	return res, nil
}

// Unlock implements apiserver.Backend: it removes the place lockID (the
// lock's nonce), held or waiting.
func (a *Agent) Unlock(ctx context.Context, name, lockID string) error {
	if err := model.ValidateKey(name); err != nil {
		return err
	}
	if lockID == "" || checkNonce(lockID) != nil {
		return model.Invalid(lockID, fmt.Sprintf("invalid lock id %q: use the lock_id that Lock returned, or the nonce it was given", lockID))
	}
	return a.releasePlace(ctx, a.store.LockKey(name, lockID), func() error {
		return &model.SubjectError{Subject: name, Err: model.ErrNotHeld,
			Msg: fmt.Sprintf("lock %s is not held by %s (released already, or its holder ended)", name, lockID)}
	})
}

// releasePlace removes the place at key, closing the session opened for
// it; notThere is the error when there is no such place.
func (a *Agent) releasePlace(ctx context.Context, key string, notThere func() error) error {
	value, lease, ok, err := a.store.Dequeue(ctx, key)
	if err != nil {
		return err
	}
	if !ok {
		return notThere()
	}
	if decodeQueued([]byte(value)).Session == implicitSession {
		a.store.CloseSession(ctx, lease)
	}
	return nil
}
