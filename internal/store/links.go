package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/nefele/nefele/internal/model"
)

// A link between processes a and b is two keys: links/<a>/<b> says what
// happens to b when a ends (stopped, or told if b traps), and links/<b>/<a>
// the reverse. What a trapping process is told waits for it under
// linkexits/<it>/<dead>.
func (s *Store) linkKey(dead, other model.GPID) string {
	return s.userPrefix() + "links/" + string(dead) + "/" + string(other)
}
func (s *Store) linkPrefix(dead model.GPID) string {
	return s.userPrefix() + "links/" + string(dead) + "/"
}
func (s *Store) linkExitPrefix(g model.GPID) string {
	return s.userPrefix() + "linkexits/" + string(g) + "/"
}

// Link is one side of a link: the process to act on when the other ends.
type Link struct {
	Other model.GPID `json:"-"`
	Trap  bool       `json:"trap"`
}

// SetLink links a and b: when b ends, a is told if trap, else stopped; when
// a ends, b is stopped unless it trapped a already.
func (s *Store) SetLink(ctx context.Context, a, b model.GPID, trap bool) error {
	back := s.linkKey(a, b)
	_, err := s.c.Txn(ctx).Then(
		clientv3.OpPut(s.linkKey(b, a), encode(Link{Trap: trap})),
		clientv3.OpTxn([]clientv3.Cmp{clientv3.Compare(clientv3.CreateRevision(back), "=", 0)},
			[]clientv3.Op{clientv3.OpPut(back, encode(Link{}))}, nil),
	).Commit()
	if err != nil {
		return writeErr(fmt.Sprintf("link %s and %s", a, b), err)
	}
	return nil
}

// Unlink removes the link between a and b.
func (s *Store) Unlink(ctx context.Context, a, b model.GPID) error {
	_, err := s.c.Txn(ctx).Then(clientv3.OpDelete(s.linkKey(a, b)), clientv3.OpDelete(s.linkKey(b, a))).Commit()
	if err != nil {
		return writeErr(fmt.Sprintf("unlink %s and %s", a, b), err)
	}
	return nil
}

// WithLinks returns, in one read, which of gpids have links or were told
// of ends: the writes of TakeLinks and ForgetLinkExits are needed only for
// those.
func (s *Store) WithLinks(ctx context.Context, gpids []model.GPID) ([]model.GPID, error) {
	ops := make([]clientv3.Op, 0, 2*len(gpids))
	for _, g := range gpids {
		ops = append(ops,
			clientv3.OpGet(s.linkPrefix(g), clientv3.WithPrefix(), clientv3.WithCountOnly()),
			clientv3.OpGet(s.linkExitPrefix(g), clientv3.WithPrefix(), clientv3.WithCountOnly()))
	}
	res, err := s.c.Txn(ctx).Then(ops...).Commit()
	if err != nil {
		return nil, writeErr("links of ended processes", err)
	}
	var out []model.GPID
	for i, g := range gpids {
		if res.Responses[2*i].GetResponseRange().Count+res.Responses[2*i+1].GetResponseRange().Count > 0 {
			out = append(out, g)
		}
	}
	return out, nil
}

// TakeLinks returns and deletes the links of dead: the processes to act on
// now that it has ended. Each link is taken once, by whoever deletes it.
func (s *Store) TakeLinks(ctx context.Context, dead model.GPID) ([]Link, error) {
	res, err := s.c.Delete(ctx, s.linkPrefix(dead), clientv3.WithPrefix(), clientv3.WithPrevKV())
	if err != nil {
		return nil, writeErr("links of "+string(dead), err)
	}
	out := make([]Link, 0, len(res.PrevKvs))
	for _, kv := range res.PrevKvs {
		var l Link
		json.Unmarshal(kv.Value, &l)
		l.Other = model.GPID(strings.TrimPrefix(string(kv.Key), s.linkPrefix(dead)))
		out = append(out, l)
	}
	return out, nil
}

// PutLinkExit tells trapping process to that dead ended, with dead's final
// record.
func (s *Store) PutLinkExit(ctx context.Context, to model.GPID, dead model.Process) error {
	if _, err := s.c.Put(ctx, s.linkExitPrefix(to)+string(dead.GPID), encode(dead)); err != nil {
		return writeErr("tell "+string(to), err)
	}
	return nil
}

// ForgetLinkExits deletes what process g was told, once it has ended.
func (s *Store) ForgetLinkExits(ctx context.Context, g model.GPID) error {
	if _, err := s.c.Delete(ctx, s.linkExitPrefix(g), clientv3.WithPrefix()); err != nil {
		return writeErr("forget what "+string(g)+" was told", err)
	}
	return nil
}

// WatchLinkExits calls fn with each end that process g is told of: those
// waiting first, then each as it comes; each is deleted once fn took it.
func (s *Store) WatchLinkExits(ctx context.Context, g model.GPID, fn func(model.Process) error) error {
	prefix := s.linkExitPrefix(g)
	res, err := s.get(ctx, prefix, clientv3.WithPrefix())
	if err != nil {
		return err
	}
	deliver := func(key, value []byte) error {
		var p model.Process
		if err := json.Unmarshal(value, &p); err != nil {
			return fmt.Errorf("decode %s: %w", key, err)
		}
		if err := fn(p); err != nil {
			return err
		}
		_, err := s.c.Delete(ctx, string(key))
		return err
	}
	for _, kv := range res.Kvs {
		if err := deliver(kv.Key, kv.Value); err != nil {
			return err
		}
	}
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	for wr := range s.c.Watch(wctx, prefix, clientv3.WithPrefix(), clientv3.WithRev(res.Header.Revision+1)) {
		if err := wr.Err(); err != nil {
			return &model.SubjectError{Err: model.ErrUnavailable, Msg: fmt.Sprintf("watch what %s is told: %v", g, err)}
		}
		for _, ev := range wr.Events {
			if ev.Type == clientv3.EventTypePut {
				if err := deliver(ev.Kv.Key, ev.Kv.Value); err != nil {
					return err
				}
			}
		}
	}
	return ctx.Err()
}
