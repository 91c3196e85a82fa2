package store

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/nefele/nefele/internal/model"
)

const (
	secretKey         = "/nefele/secret"
	leaseOwnerPrefix  = "/nefele/leaseowner/"
	defaultSecretSize = 32
)

// The primitives' keys are under /nefele/u/<tenant>/, apart from the
// records under /nefele/t/<tenant>/ that every agent's view watches.
func (s *Store) userPrefix() string           { return "/nefele/u/" + s.tenant + "/" }
func (s *Store) kvPrefix() string             { return s.userPrefix() + "kv/" }
func (s *Store) kvKey(key string) string      { return s.kvPrefix() + key }
func (s *Store) nameKey(name string) string   { return s.userPrefix() + "names/" + name }
func (s *Store) namePrefix() string           { return s.userPrefix() + "names/" }
func (s *Store) leaseKey(g model.GPID) string { return s.userPrefix() + "leases/" + string(g) }
func leaseOwnerKey(id clientv3.LeaseID) string {
	return leaseOwnerPrefix + strconv.FormatInt(int64(id), 16)
}

// Secret returns the cluster's secret, from which agents derive and check
// the tokens of managed processes; the first agent to ask creates it.
func (s *Store) Secret(ctx context.Context) ([]byte, error) {
	for {
		res, err := s.get(ctx, secretKey)
		if err != nil {
			return nil, fmt.Errorf("cluster secret: %w", err)
		}
		if len(res.Kvs) == 1 {
			return res.Kvs[0].Value, nil
		}
		b := make([]byte, defaultSecretSize)
		rand.Read(b)
		if _, err := s.c.Txn(ctx).If(clientv3.Compare(clientv3.CreateRevision(secretKey), "=", 0)).
			Then(clientv3.OpPut(secretKey, string(b))).Commit(); err != nil {
			return nil, writeErr("cluster secret", err)
		}
	}
}

// GrantProcessLease grants gpid's own lease, which its agent keeps alive
// while the process lives: the keys bound to it (names, ephemeral keys,
// locks) go when it ends. Its id is kept under the lease itself, for the
// agent's next start and for telling the owner of a key.
func (s *Store) GrantProcessLease(ctx context.Context, gpid model.GPID, ttl int64) (clientv3.LeaseID, error) {
	l, err := s.c.Grant(ctx, ttl)
	if err != nil {
		return 0, writeErr("lease of "+string(gpid), err)
	}
	_, err = s.c.Txn(ctx).Then(
		clientv3.OpPut(s.leaseKey(gpid), strconv.FormatInt(int64(l.ID), 16), clientv3.WithLease(l.ID)),
		clientv3.OpPut(leaseOwnerKey(l.ID), string(gpid), clientv3.WithLease(l.ID)),
	).Commit()
	if err != nil {
		s.c.Revoke(context.WithoutCancel(ctx), l.ID)
		return 0, writeErr("lease of "+string(gpid), err)
	}
	return l.ID, nil
}

// ProcessLease returns the lease of gpid, if it has one that lives.
func (s *Store) ProcessLease(ctx context.Context, gpid model.GPID) (clientv3.LeaseID, bool, error) {
	res, err := s.get(ctx, s.leaseKey(gpid))
	if err != nil || len(res.Kvs) == 0 {
		return 0, false, err
	}
	id, err := strconv.ParseInt(string(res.Kvs[0].Value), 16, 64)
	if err != nil {
		return 0, false, fmt.Errorf("lease of %s: bad id %q", gpid, res.Kvs[0].Value)
	}
	return clientv3.LeaseID(id), true, nil
}

// owners returns the GPIDs whose leases are among the leases of kvs.
func (s *Store) owners(ctx context.Context, leases map[int64]bool) (map[int64]model.GPID, error) {
	out := map[int64]model.GPID{}
	if len(leases) == 0 {
		return out, nil
	}
	res, err := s.get(ctx, leaseOwnerPrefix, clientv3.WithPrefix())
	if err != nil {
		return nil, err
	}
	for _, kv := range res.Kvs {
		id, err := strconv.ParseInt(strings.TrimPrefix(string(kv.Key), leaseOwnerPrefix), 16, 64)
		if err == nil && leases[id] {
			out[id] = model.GPID(kv.Value)
		}
	}
	return out, nil
}

func (s *Store) keyValue(kv *mvccKV, owners map[int64]model.GPID) model.KeyValue {
	return model.KeyValue{Key: strings.TrimPrefix(string(kv.Key), s.kvPrefix()), Value: kv.Value,
		Revision: kv.ModRevision, CreateRevision: kv.CreateRevision, Owner: owners[kv.Lease]}
}

// KVGet returns key, or model.ErrKeyNotFound.
func (s *Store) KVGet(ctx context.Context, key string) (model.KeyValue, error) {
	res, err := s.get(ctx, s.kvKey(key))
	if err != nil {
		return model.KeyValue{}, err
	}
	if len(res.Kvs) == 0 {
		return model.KeyValue{}, notFound(key)
	}
	kv := res.Kvs[0]
	owners, err := s.owners(ctx, map[int64]bool{kv.Lease: kv.Lease != 0})
	if err != nil {
		return model.KeyValue{}, err
	}
	return s.keyValue(kv, owners), nil
}

func notFound(key string) error {
	return &model.SubjectError{Subject: key, Err: model.ErrKeyNotFound, Msg: "not found: " + key}
}

// KVPut writes key, bound to lease when it is not 0, and returns the
// revision of the write.
func (s *Store) KVPut(ctx context.Context, key string, value []byte, lease clientv3.LeaseID) (int64, error) {
	res, err := s.c.Put(ctx, s.kvKey(key), string(value), clientv3.WithLease(lease))
	if err != nil {
		return 0, writeErr("put "+key, err)
	}
	return res.Header.Revision, nil
}

// KVDelete deletes key, or every key under it with prefix, and returns how
// many were deleted and the revision.
func (s *Store) KVDelete(ctx context.Context, key string, prefix bool) (int64, int64, error) {
	var opts []clientv3.OpOption
	if prefix {
		opts = append(opts, clientv3.WithPrefix())
	}
	res, err := s.c.Delete(ctx, s.kvKey(key), opts...)
	if err != nil {
		return 0, 0, writeErr("delete "+key, err)
	}
	return res.Deleted, res.Header.Revision, nil
}

// KVCompareAndSwap writes value to key (or deletes it), bound to lease
// when not 0, if the key is as expect says. It returns whether it swapped,
// the key as it is after the call (found false: absent), and the revision.
func (s *Store) KVCompareAndSwap(ctx context.Context, key string, expect model.Expect, value []byte, del bool, lease clientv3.LeaseID) (bool, model.KeyValue, bool, int64, error) {
	k := s.kvKey(key)
	var cmp clientv3.Cmp
	switch {
	case expect.Absent:
		cmp = clientv3.Compare(clientv3.CreateRevision(k), "=", 0)
	case expect.Revision > 0:
		cmp = clientv3.Compare(clientv3.ModRevision(k), "=", expect.Revision)
	default:
		cmp = clientv3.Compare(clientv3.Value(k), "=", string(expect.Value))
	}
	op := clientv3.OpPut(k, string(value), clientv3.WithLease(lease))
	if del {
		op = clientv3.OpDelete(k)
	}
	res, err := s.c.Txn(ctx).If(cmp).Then(op, clientv3.OpGet(k)).Else(clientv3.OpGet(k)).Commit()
	if err != nil {
		return false, model.KeyValue{}, false, 0, writeErr("compare-and-swap "+key, err)
	}
	get := res.Responses[len(res.Responses)-1].GetResponseRange()
	if len(get.Kvs) == 0 {
		return res.Succeeded, model.KeyValue{Key: key}, false, res.Header.Revision, nil
	}
	kv := get.Kvs[0]
	owners, err := s.owners(ctx, map[int64]bool{kv.Lease: kv.Lease != 0})
	if err != nil {
		return false, model.KeyValue{}, false, 0, err
	}
	return res.Succeeded, s.keyValue(kv, owners), true, res.Header.Revision, nil
}

// KVList returns the keys under prefix, in key order, at most limit (0: all).
func (s *Store) KVList(ctx context.Context, prefix string, limit int64) ([]model.KeyValue, int64, error) {
	res, err := s.get(ctx, s.kvKey(prefix), clientv3.WithPrefix(), clientv3.WithLimit(limit))
	if err != nil {
		return nil, 0, err
	}
	leases := map[int64]bool{}
	for _, kv := range res.Kvs {
		if kv.Lease != 0 {
			leases[kv.Lease] = true
		}
	}
	owners, err := s.owners(ctx, leases)
	if err != nil {
		return nil, 0, err
	}
	out := make([]model.KeyValue, len(res.Kvs))
	for i, kv := range res.Kvs {
		out[i] = s.keyValue(kv, owners)
	}
	return out, res.Header.Revision, nil
}

// KVWatch calls fn with the changes of key (or of the keys under it, with
// prefix) from revision from (0: from now), until ctx ends or fn fails. It
// calls fn once with no events when the watch is set up.
func (s *Store) KVWatch(ctx context.Context, key string, prefix bool, from int64, fn func([]model.KVEvent) error) error {
	ctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	opts := []clientv3.OpOption{clientv3.WithCreatedNotify()}
	if prefix {
		opts = append(opts, clientv3.WithPrefix())
	}
	if from > 0 {
		opts = append(opts, clientv3.WithRev(from))
	}
	for wr := range s.c.Watch(ctx, s.kvKey(key), opts...) {
		if err := wr.Err(); err != nil {
			if errors.Is(err, context.Canceled) {
				return ctx.Err()
			}
			return &model.SubjectError{Subject: key, Err: model.ErrUnavailable, Msg: fmt.Sprintf("watch %s: %v", key, err)}
		}
		evs := make([]model.KVEvent, 0, len(wr.Events))
		for _, ev := range wr.Events {
			evs = append(evs, model.KVEvent{Deleted: ev.Type == clientv3.EventTypeDelete, KV: s.keyValue(ev.Kv, nil)})
		}
		if len(evs) == 0 && !wr.Created {
			continue
		}
		if err := fn(evs); err != nil {
			return err
		}
	}
	return ctx.Err()
}

// registration is the value of a name's key.
type registration struct {
	GPID model.GPID `json:"gpid"`
	Node string     `json:"node"`
}

func (s *Store) registration(kv *mvccKV) model.Registration {
	var r registration
	json.Unmarshal(kv.Value, &r)
	return model.Registration{Name: strings.TrimPrefix(string(kv.Key), s.namePrefix()), GPID: r.GPID, Node: r.Node, Revision: kv.ModRevision}
}

// Register gives name to gpid (of node), bound to its lease; it fails with
// model.ErrNameInUse while another process holds the name. A process that
// holds the name already keeps it.
func (s *Store) Register(ctx context.Context, name string, gpid model.GPID, node string, lease clientv3.LeaseID) (model.Registration, error) {
	k := s.nameKey(name)
	res, err := s.c.Txn(ctx).If(clientv3.Compare(clientv3.CreateRevision(k), "=", 0)).
		Then(clientv3.OpPut(k, encode(registration{GPID: gpid, Node: node}), clientv3.WithLease(lease)), clientv3.OpGet(k)).
		Else(clientv3.OpGet(k)).Commit()
	if err != nil {
		return model.Registration{}, writeErr("register "+name, err)
	}
	kvs := res.Responses[len(res.Responses)-1].GetResponseRange().Kvs
	if len(kvs) == 0 {
		return model.Registration{}, fmt.Errorf("register %s: the name vanished while it was taken", name)
	}
	reg := s.registration(kvs[0])
	if !res.Succeeded && reg.GPID != gpid {
		return reg, &model.SubjectError{Subject: name, Err: model.ErrNameInUse,
			Msg: fmt.Sprintf("name %s is registered by %s (on %s); it is free once that process ends", name, reg.GPID, reg.Node)}
	}
	return reg, nil
}

// Unregister releases name if gpid holds it.
func (s *Store) Unregister(ctx context.Context, name string, gpid model.GPID) error {
	reg, err := s.Lookup(ctx, name)
	if err != nil {
		return err
	}
	if reg.GPID != gpid {
		return &model.SubjectError{Subject: name, Err: model.ErrNotHeld,
			Msg: fmt.Sprintf("name %s is registered by %s, not by %s", name, reg.GPID, gpid)}
	}
	k := s.nameKey(name)
	if _, err := s.c.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision(k), "=", reg.Revision)).Then(clientv3.OpDelete(k)).Commit(); err != nil {
		return writeErr("unregister "+name, err)
	}
	return nil
}

func noName(name string) error {
	return &model.SubjectError{Subject: name, Err: model.ErrNoName, Msg: "no such name: " + name}
}

// Lookup returns the holder of name, or model.ErrNoName.
func (s *Store) Lookup(ctx context.Context, name string) (model.Registration, error) {
	res, err := s.get(ctx, s.nameKey(name))
	if err != nil {
		return model.Registration{}, err
	}
	if len(res.Kvs) == 0 {
		return model.Registration{}, noName(name)
	}
	return s.registration(res.Kvs[0]), nil
}

// Names returns the registered names under prefix, by name.
func (s *Store) Names(ctx context.Context, prefix string) ([]model.Registration, error) {
	res, err := s.get(ctx, s.nameKey(prefix), clientv3.WithPrefix())
	if err != nil {
		return nil, err
	}
	out := make([]model.Registration, len(res.Kvs))
	for i, kv := range res.Kvs {
		out[i] = s.registration(kv)
	}
	return out, nil
}

// WatchName calls fn with the holder of name now (gone when free) and at
// every change, until ctx ends or fn fails.
func (s *Store) WatchName(ctx context.Context, name string, fn func(reg model.Registration, gone bool) error) error {
	res, err := s.get(ctx, s.nameKey(name))
	if err != nil {
		return err
	}
	if len(res.Kvs) == 0 {
		err = fn(model.Registration{Name: name, Revision: res.Header.Revision}, true)
	} else {
		err = fn(s.registration(res.Kvs[0]), false)
	}
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	for wr := range s.c.Watch(ctx, s.nameKey(name), clientv3.WithRev(res.Header.Revision+1)) {
		if err := wr.Err(); err != nil {
			return &model.SubjectError{Subject: name, Err: model.ErrUnavailable, Msg: fmt.Sprintf("watch name %s: %v", name, err)}
		}
		for _, ev := range wr.Events {
			reg := s.registration(ev.Kv)
			if ev.Type == clientv3.EventTypeDelete {
				reg = model.Registration{Name: name, Revision: ev.Kv.ModRevision}
			}
			if err := fn(reg, ev.Type == clientv3.EventTypeDelete); err != nil {
				return err
			}
		}
	}
	return ctx.Err()
}

type mvccKV = mvccpb.KeyValue
