package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/nefele/nefele/internal/model"
)

func (s *Store) lockPrefix(name string) string { return s.userPrefix() + "locks/" + name + "/" }

// A Place is a place in a queue.
type Place struct {
	Key string
	// Rev is the key's create revision: the order of the queue and, for a
	// lock, the fencing token.
	Rev int64
	// Made is set when the call that returned it made it; First when it
	// was first in the queue then.
	Made, First bool
}

// Enqueue puts the place id in the queue at prefix (a key bound to lease,
// with value) unless it is there, and returns it, in one round trip.
func (s *Store) Enqueue(ctx context.Context, prefix, id string, lease clientv3.LeaseID, value string) (Place, error) {
	key := prefix + id
	first := clientv3.OpGet(prefix, append(clientv3.WithFirstCreate(), clientv3.WithKeysOnly())...)
	res, err := s.c.Txn(ctx).If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
		Then(clientv3.OpPut(key, value, clientv3.WithLease(lease)), clientv3.OpGet(key), first).
		Else(clientv3.OpGet(key), first).Commit()
	if err != nil {
		if errors.Is(err, rpctypes.ErrLeaseNotFound) {
			return Place{}, noSession(lease)
		}
		return Place{}, writeErr("enqueue at "+prefix, err)
	}
	n := len(res.Responses)
	kvs := res.Responses[n-2].GetResponseRange().Kvs
	if len(kvs) == 0 {
		return Place{}, noSession(lease) // its lease expired at once
	}
	head := res.Responses[n-1].GetResponseRange().Kvs
	return Place{Key: key, Rev: kvs[0].CreateRevision, Made: res.Succeeded,
		First: len(head) == 1 && string(head[0].Key) == key}, nil
}

// Predecessor returns the key just ahead of the one created at rev in the
// queue at prefix, or "" when that one is first.
func (s *Store) Predecessor(ctx context.Context, prefix string, rev int64) (string, error) {
	res, err := s.get(ctx, prefix, clientv3.WithPrefix(), clientv3.WithMaxCreateRev(rev-1),
		clientv3.WithSort(clientv3.SortByCreateRevision, clientv3.SortDescend), clientv3.WithLimit(1), clientv3.WithKeysOnly())
	if err != nil || len(res.Kvs) == 0 {
		return "", err
	}
	return string(res.Kvs[0].Key), nil
}

// WaitFirst waits until key, created at rev, is first in the queue at
// prefix, and fails if key goes meanwhile (its lease lapsed). Each wait on
// the key ahead opens its watch before it looks, so that the hand-over is
// seen as it happens (a watch from an older revision is served by etcd's
// catch-up loop, every 100 ms).
func (s *Store) WaitFirst(ctx context.Context, prefix, key string, rev int64) error {
	for {
		pred, err := s.Predecessor(ctx, prefix, rev)
		if err != nil {
			return err
		}
		if pred == "" {
			// First, if the place is still there: it goes with its
			// lease, and then it must not be taken for the holder.
			res, err := s.get(ctx, key, clientv3.WithCountOnly())
			if err == nil && res.Count == 0 {
				err = &model.SubjectError{Subject: key, Err: model.ErrNoSession,
					Msg: "the place in line lapsed while it waited: its session or process lease expired (keep the session alive, or lock again)"}
			}
			return err
		}
		if err := s.waitGone(ctx, pred); err != nil {
			return err
		}
	}
}

// waitGone returns once key does not exist.
func (s *Store) waitGone(ctx context.Context, key string) error {
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	wch := s.c.Watch(wctx, key, clientv3.WithCreatedNotify())
	if wr, ok := <-wch; !ok || wr.Err() != nil || !wr.Created {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return &model.SubjectError{Err: model.ErrUnavailable, Msg: fmt.Sprintf("watch %s: the store is unavailable; try again", key)}
	}
	res, err := s.get(ctx, key, clientv3.WithCountOnly())
	if err != nil || res.Count == 0 {
		return err
	}
	for wr := range wch {
		if wr.Err() != nil {
			break
		}
		for _, ev := range wr.Events {
			if ev.Type == clientv3.EventTypeDelete {
				return nil
			}
		}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return &model.SubjectError{Err: model.ErrUnavailable, Msg: fmt.Sprintf("watch %s: the store is unavailable; try again", key)}
}

// Dequeue removes key (a place in a queue) and returns its value, its
// lease and whether it was there.
func (s *Store) Dequeue(ctx context.Context, key string) (string, clientv3.LeaseID, bool, error) {
	res, err := s.c.Delete(ctx, key, clientv3.WithPrevKV())
	if err != nil {
		return "", 0, false, writeErr("release "+key, err)
	}
	if len(res.PrevKvs) == 0 {
		return "", 0, false, nil
	}
	return string(res.PrevKvs[0].Value), clientv3.LeaseID(res.PrevKvs[0].Lease), true, nil
}

// LockKey returns the key of the place id in the queue of lock name.
func (s *Store) LockKey(name, id string) string { return s.lockPrefix(name) + id }

// LockQueue returns the prefix of the queue of lock name.
func (s *Store) LockQueue(name string) string { return s.lockPrefix(name) }

// Holder returns the lease name and create revision of the first in the
// queue at prefix, or "" when it is empty.
func (s *Store) Holder(ctx context.Context, prefix string) (string, int64, error) {
	res, err := s.get(ctx, prefix, clientv3.WithFirstCreate()...)
	if err != nil || len(res.Kvs) == 0 {
		return "", 0, err
	}
	return string(res.Kvs[0].Key[len(prefix):]), res.Kvs[0].CreateRevision, nil
}

// OpenSession grants a session: a lease of ttl seconds that its caller
// keeps alive with KeepAliveSession.
func (s *Store) OpenSession(ctx context.Context, ttl int64) (clientv3.LeaseID, error) {
	l, err := s.c.Grant(ctx, ttl)
	if err != nil {
		return 0, writeErr("open a session", err)
	}
	return l.ID, nil
}

// KeepAliveSession renews session and returns its TTL in seconds.
func (s *Store) KeepAliveSession(ctx context.Context, session clientv3.LeaseID) (int64, error) {
	res, err := s.c.KeepAliveOnce(ctx, session)
	if errors.Is(err, rpctypes.ErrLeaseNotFound) {
		return 0, noSession(session)
	}
	if err != nil {
		return 0, writeErr("keep the session alive", err)
	}
	return res.TTL, nil
}

// SessionAlive checks that session still lives and returns its TTL in
// seconds, as granted.
func (s *Store) SessionAlive(ctx context.Context, session clientv3.LeaseID) (int64, error) {
	res, err := s.c.TimeToLive(ctx, session)
	if err != nil {
		return 0, writeErr("look up the session", err)
	}
	if res.TTL <= 0 {
		return 0, noSession(session)
	}
	return res.GrantedTTL, nil
}

// CloseSession revokes session: what it holds is released.
func (s *Store) CloseSession(ctx context.Context, session clientv3.LeaseID) error {
	_, err := s.c.Revoke(ctx, session)
	if err != nil && !errors.Is(err, rpctypes.ErrLeaseNotFound) {
		return writeErr("close the session", err)
	}
	return nil
}

func noSession(id clientv3.LeaseID) error {
	return &model.SubjectError{Subject: strconv.FormatInt(int64(id), 10), Err: model.ErrNoSession,
		Msg: fmt.Sprintf("no such session: %d (it expired or was closed: keep a session alive within its TTL, or open another)", id)}
}

func (s *Store) electionPrefix(name string) string { return s.userPrefix() + "elections/" + name + "/" }
func (s *Store) barrierPrefix(name string) string  { return s.userPrefix() + "barriers/" + name + "/" }

// ElectionQueue returns the prefix of the candidates of election name.
func (s *Store) ElectionQueue(name string) string { return s.electionPrefix(name) }

// BarrierQueue returns the prefix of the places of barrier name, and the
// key that says it opened.
func (s *Store) BarrierQueue(name string) (places, open string) {
	return s.barrierPrefix(name) + "p/", s.barrierPrefix(name) + "open"
}

// BarrierPrefix returns the prefix of everything of barrier name.
func (s *Store) BarrierPrefix(name string) string { return s.barrierPrefix(name) }

// First returns the first key in the queue at prefix (its id, value and
// create revision); found is false when the queue is empty.
func (s *Store) First(ctx context.Context, prefix string) (id string, value []byte, rev int64, found bool, err error) {
	res, err := s.get(ctx, prefix, clientv3.WithFirstCreate()...)
	if err != nil || len(res.Kvs) == 0 {
		return "", nil, 0, false, err
	}
	kv := res.Kvs[0]
	return string(kv.Key[len(prefix):]), kv.Value, kv.CreateRevision, true, nil
}

// Count returns how many keys are under prefix, and whether key exists.
func (s *Store) Count(ctx context.Context, prefix, key string) (int64, bool, error) {
	res, err := s.c.Txn(ctx).Then(
		clientv3.OpGet(prefix, clientv3.WithPrefix(), clientv3.WithCountOnly()),
		clientv3.OpGet(key, clientv3.WithCountOnly())).Commit()
	if err != nil {
		return 0, false, writeErr("count "+prefix, err)
	}
	return res.Responses[0].GetResponseRange().Count, res.Responses[1].GetResponseRange().Count > 0, nil
}

// PutIfAbsent writes key (bound to no lease) unless it exists.
func (s *Store) PutIfAbsent(ctx context.Context, key, value string) error {
	_, err := s.c.Txn(ctx).If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).Then(clientv3.OpPut(key, value)).Commit()
	if err != nil {
		return writeErr("put "+key, err)
	}
	return nil
}

// Until calls check, then again after every change under prefix, until it
// reports done, fails, or ctx ends. The watch is open before the first
// check, so that no change between a check and the next is missed, and
// each change is seen as it happens.
func (s *Store) Until(ctx context.Context, prefix string, check func() (bool, error)) error {
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	wch := s.c.Watch(wctx, prefix, clientv3.WithPrefix(), clientv3.WithCreatedNotify())
	if wr, ok := <-wch; !ok || wr.Err() != nil || !wr.Created {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return &model.SubjectError{Err: model.ErrUnavailable, Msg: fmt.Sprintf("watch %s: the store is unavailable; try again", prefix)}
	}
	for {
		done, err := check()
		if err != nil || done {
			return err
		}
		select {
		case wr, ok := <-wch:
			if !ok || wr.Err() != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				return &model.SubjectError{Err: model.ErrUnavailable, Msg: fmt.Sprintf("watch %s: the store is unavailable; try again", prefix)}
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
