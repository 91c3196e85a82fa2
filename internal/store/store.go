package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/nefele/nefele/internal/model"
)

// DefaultTenant is the tenant of a cluster without tenants set up.
const DefaultTenant = "default"

// Store reads and writes Nefele's records in etcd for one tenant.
type Store struct {
	c      *clientv3.Client
	tenant string
}

// New returns a Store over c for the default tenant.
func New(c *clientv3.Client) *Store {
	return &Store{c: c, tenant: DefaultTenant}
}

// Client returns the etcd client.
func (s *Store) Client() *clientv3.Client { return s.c }

const seqKey = "/nefele/seq/gpid"

func (s *Store) procKey(g model.GPID) string     { return "/nefele/t/" + s.tenant + "/procs/" + string(g) }
func (s *Store) procPrefix() string              { return "/nefele/t/" + s.tenant + "/procs/" }
func (s *Store) groupKey(name string) string     { return "/nefele/t/" + s.tenant + "/groups/" + name }
func (s *Store) tenantPrefix() string            { return "/nefele/t/" + s.tenant + "/" }
func (s *Store) groupPrefix() string             { return "/nefele/t/" + s.tenant + "/groups/" }
func (s *Store) eventPrefix() string             { return "/nefele/t/" + s.tenant + "/events/" }
func assignKey(node string, g model.GPID) string { return "/nefele/assign/" + node + "/" + string(g) }
func assignPrefix(node string) string            { return "/nefele/assign/" + node + "/" }
func nodeKey(node string) string                 { return "/nefele/nodes/" + node }
func aliveKey(node string) string                { return "/nefele/alive/" + node }

func (s *Store) eventKey(e model.Event) string {
	return fmt.Sprintf("%s%020d-%s", s.eventPrefix(), e.Time.UnixNano(), e.GPID)
}

func encode(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("store: encode %T: %v", v, err)) // only our own types are encoded
	}
	return string(b)
}

// ReserveGPIDs reserves n fresh GPID sequence numbers and returns the first.
// Numbers are never handed out twice, even across agents and restarts.
func (s *Store) ReserveGPIDs(ctx context.Context, n uint64) (uint64, error) {
	for {
		res, err := s.get(ctx, seqKey)
		if err != nil {
			return 0, fmt.Errorf("reserve gpids: %w", err)
		}
		next, rev := uint64(1), int64(0)
		if len(res.Kvs) == 1 {
			if _, err := fmt.Sscan(string(res.Kvs[0].Value), &next); err != nil {
				return 0, fmt.Errorf("reserve gpids: bad counter %q: %w", res.Kvs[0].Value, err)
			}
			rev = res.Kvs[0].ModRevision
		}
		txn, err := s.c.Txn(ctx).
			If(clientv3.Compare(clientv3.ModRevision(seqKey), "=", rev)).
			Then(clientv3.OpPut(seqKey, fmt.Sprint(next+n))).
			Commit()
		if err != nil {
			return 0, fmt.Errorf("reserve gpids: %w", err)
		}
		if txn.Succeeded {
			return next, nil
		}
	}
}

// Create writes new process records, their assignments and their first
// events in one transaction. When name is set, the processes take it: it
// fails with model.ErrNameInUse while a live process holds the name.
func (s *Store) Create(ctx context.Context, name string, replicas int, procs []model.Process) error {
	ops := make([]clientv3.Op, 0, 3*len(procs)+1)
	for _, p := range procs {
		ops = append(ops, s.createOps(p)...)
	}
	if name == "" {
		if _, err := s.c.Txn(ctx).Then(ops...).Commit(); err != nil {
			return writeErr("create "+string(procs[0].GPID), err)
		}
		return nil
	}
	g := Group{Name: name, Replicas: replicas, IsGroup: replicas > 0, Spec: procs[0].Spec, CreatedAt: time.Now()}
	for _, p := range procs {
		g.GPIDs = append(g.GPIDs, p.GPID)
	}
	ops = append(ops, clientv3.OpPut(s.groupKey(name), encode(g)))
	for {
		cmp, err := s.nameFree(ctx, name)
		if err != nil {
			return err
		}
		txn, err := s.c.Txn(ctx).If(cmp...).Then(ops...).Commit()
		if err != nil {
			return writeErr("create "+name, err)
		}
		if txn.Succeeded {
			return nil
		}
	}
}

// nameFree checks that no live process holds name and returns the
// comparisons that keep that true until the transaction commits.
func (s *Store) nameFree(ctx context.Context, name string) ([]clientv3.Cmp, error) {
	res, err := s.get(ctx, s.groupKey(name))
	if err != nil {
		return nil, fmt.Errorf("look up name %s: %w", name, err)
	}
	if len(res.Kvs) == 0 {
		return []clientv3.Cmp{clientv3.Compare(clientv3.CreateRevision(s.groupKey(name)), "=", 0)}, nil
	}
	cmps := []clientv3.Cmp{clientv3.Compare(clientv3.ModRevision(s.groupKey(name)), "=", res.Kvs[0].ModRevision)}
	var g Group
	if err := json.Unmarshal(res.Kvs[0].Value, &g); err != nil {
		return nil, fmt.Errorf("decode group %s: %w", name, err)
	}
	for _, gp := range g.GPIDs {
		p, rev, err := s.Get(ctx, gp)
		if errors.Is(err, model.ErrNoProcess) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if !p.State.Ended() {
			return nil, &model.SubjectError{Subject: name, Err: model.ErrNameInUse,
				Msg: fmt.Sprintf("name %s is in use by %s (%s); stop it first or choose another name", name, gp, p.State)}
		}
		cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(s.procKey(gp)), "=", rev))
	}
	return cmps, nil
}

func isNoProcess(err error) bool { return errors.Is(err, model.ErrNoProcess) }

func eventOf(from model.State, p model.Process) model.Event {
	t := time.Now()
	return model.Event{Time: t, GPID: p.GPID, Name: p.Name, Node: p.Node, From: from, To: p.State, Reason: p.Reason}
}

// Put writes a process record after a transition from state from, with its
// event when the state changed. The assignment is removed once the process
// has ended for good. The assignment is also the node's title to the
// process: a transition from a live state is written only while p's node
// holds the assignment, and fails with model.ErrFenced once the process was
// taken from it (lost with its node, replaced, or forgotten).
func (s *Store) Put(ctx context.Context, from model.State, p model.Process) error {
	var cmps []clientv3.Cmp
	if !from.Ended() {
		cmps = append(cmps, clientv3.Compare(clientv3.CreateRevision(assignKey(p.Node, p.GPID)), ">", 0))
	}
	txn, err := s.c.Txn(ctx).If(cmps...).Then(s.putOps(from, p)...).Commit()
	if err != nil {
		return writeErr(fmt.Sprintf("record %s %s", p.GPID, p.State), err)
	}
	if !txn.Succeeded {
		return &model.SubjectError{Subject: string(p.GPID), Err: model.ErrFenced,
			Msg: fmt.Sprintf("record %s %s: %s is no longer assigned to node %s", p.GPID, p.State, p.GPID, p.Node)}
	}
	return nil
}

// putOps writes p after a transition from state from: the record, its
// event when the state changed, and its assignment, removed once the
// process has ended for good and written again when it lives again.
func (s *Store) putOps(from model.State, p model.Process) []clientv3.Op {
	ops := []clientv3.Op{clientv3.OpPut(s.procKey(p.GPID), encode(p))}
	if from != p.State {
		e := eventOf(from, p)
		ops = append(ops, clientv3.OpPut(s.eventKey(e), encode(e)))
	}
	if p.State.Ended() {
		ops = append(ops, clientv3.OpDelete(assignKey(p.Node, p.GPID)))
	} else if from.Ended() {
		ops = append(ops, clientv3.OpPut(assignKey(p.Node, p.GPID), string(p.GPID)))
	}
	return ops
}

// PutIf writes p after a transition from state from, as Put does, if its
// record is still at revision rev; it reports whether it was written.
func (s *Store) PutIf(ctx context.Context, from model.State, p model.Process, rev int64) (bool, error) {
	txn, err := s.c.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision(s.procKey(p.GPID)), "=", rev)).
		Then(s.putOps(from, p)...).Commit()
	if err != nil {
		return false, writeErr(fmt.Sprintf("record %s %s", p.GPID, p.State), err)
	}
	return txn.Succeeded, nil
}

// Delete forgets the record of p, which must have ended, unless it changed
// since (a restart in place, say).
func (s *Store) Delete(ctx context.Context, p model.Process) error {
	key := s.procKey(p.GPID)
	cur, rev, err := s.Get(ctx, p.GPID)
	if err != nil || !cur.State.Ended() {
		return err
	}
	_, err = s.c.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision(key), "=", rev)).
		Then(clientv3.OpDelete(key), clientv3.OpDelete(assignKey(p.Node, p.GPID))).Commit()
	if err != nil {
		return fmt.Errorf("forget %s: %w", p.GPID, err)
	}
	return nil
}

// Get returns the record of gpid and its mod revision.
func (s *Store) Get(ctx context.Context, gpid model.GPID) (model.Process, int64, error) {
	res, err := s.get(ctx, s.procKey(gpid))
	if err != nil {
		return model.Process{}, 0, fmt.Errorf("get %s: %w", gpid, err)
	}
	if len(res.Kvs) == 0 {
		return model.Process{}, res.Header.Revision, model.NoProcess(string(gpid))
	}
	var p model.Process
	if err := json.Unmarshal(res.Kvs[0].Value, &p); err != nil {
		return model.Process{}, 0, fmt.Errorf("decode %s: %w", gpid, err)
	}
	return p, res.Kvs[0].ModRevision, nil
}

// List returns every process record (only live ones unless all), by GPID order.
func (s *Store) List(ctx context.Context, all bool) ([]model.Process, error) {
	res, err := s.get(ctx, s.procPrefix(), clientv3.WithPrefix())
	if err != nil {
		return nil, fmt.Errorf("list processes: %w", err)
	}
	out := make([]model.Process, 0, len(res.Kvs))
	for _, kv := range res.Kvs {
		var p model.Process
		if err := json.Unmarshal(kv.Value, &p); err != nil {
			return nil, fmt.Errorf("decode %s: %w", kv.Key, err)
		}
		if all || !p.State.Ended() {
			out = append(out, p)
		}
	}
	SortByGPID(out)
	return out, nil
}

// SortByGPID orders processes by GPID sequence number.
func SortByGPID(ps []model.Process) {
	seq := func(g model.GPID) uint64 { n, _ := model.ParseGPID(string(g)); return n }
	sort.Slice(ps, func(i, j int) bool { return seq(ps[i].GPID) < seq(ps[j].GPID) })
}

// Resolve returns the records target names: the process with that GPID, or
// the processes that hold that name now (or held it last).
func (s *Store) Resolve(ctx context.Context, target string) ([]model.Process, error) {
	if model.IsGPID(target) {
		p, _, err := s.Get(ctx, model.GPID(target))
		if err != nil {
			return nil, err
		}
		return []model.Process{p}, nil
	}
	res, err := s.get(ctx, s.groupKey(target))
	if err != nil {
		return nil, fmt.Errorf("look up name %s: %w", target, err)
	}
	if len(res.Kvs) == 0 {
		return nil, model.NoProcess(target)
	}
	var g Group
	if err := json.Unmarshal(res.Kvs[0].Value, &g); err != nil {
		return nil, fmt.Errorf("decode group %s: %w", target, err)
	}
	out := make([]model.Process, 0, len(g.GPIDs))
	for _, gp := range g.GPIDs {
		p, _, err := s.Get(ctx, gp)
		if errors.Is(err, model.ErrNoProcess) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	if len(out) == 0 {
		return nil, model.NoProcess(target)
	}
	return out, nil
}

// Assigned returns the records of every process assigned to node.
func (s *Store) Assigned(ctx context.Context, node string) ([]model.Process, error) {
	res, err := s.get(ctx, assignPrefix(node), clientv3.WithPrefix())
	if err != nil {
		return nil, fmt.Errorf("list assignments of %s: %w", node, err)
	}
	out := make([]model.Process, 0, len(res.Kvs))
	for _, kv := range res.Kvs {
		gpid := model.GPID(strings.TrimPrefix(string(kv.Key), assignPrefix(node)))
		p, _, err := s.Get(ctx, gpid)
		if errors.Is(err, model.ErrNoProcess) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// WaitStarted blocks until gpid is no longer pending or starting (it runs,
// or failed), for at most limit, and returns its record then.
func (s *Store) WaitStarted(ctx context.Context, gpid model.GPID, limit time.Duration) (model.Process, error) {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	p, rev, err := s.Get(ctx, gpid)
	for err == nil && (p.State == model.StatePending || p.State == model.StateStarting) {
		wch := s.c.Watch(ctx, s.procKey(gpid), clientv3.WithRev(rev+1))
		wr, ok := <-wch
		if !ok || wr.Err() != nil {
			if ctx.Err() != nil {
				return p, nil // still pending: the record says so
			}
			return p, fmt.Errorf("wait for %s to start: watch closed", gpid)
		}
		for _, ev := range wr.Events {
			if ev.Type == clientv3.EventTypePut {
				json.Unmarshal(ev.Kv.Value, &p)
				rev = ev.Kv.ModRevision
			}
		}
	}
	return p, err
}

// WatchAssigned calls fn with the GPID of every assignment to node made
// after revision rev, until ctx is done.
func (s *Store) WatchAssigned(ctx context.Context, node string, rev int64, fn func(model.GPID)) error {
	for wr := range s.c.Watch(ctx, assignPrefix(node), clientv3.WithPrefix(), clientv3.WithRev(rev+1)) {
		if err := wr.Err(); err != nil {
			return fmt.Errorf("watch assignments of %s: %w", node, err)
		}
		for _, ev := range wr.Events {
			if ev.Type == clientv3.EventTypePut && ev.Kv.CreateRevision == ev.Kv.ModRevision {
				fn(model.GPID(strings.TrimPrefix(string(ev.Kv.Key), assignPrefix(node))))
			}
		}
	}
	return ctx.Err()
}

// Revision returns the store's current revision.
func (s *Store) Revision(ctx context.Context) (int64, error) {
	res, err := s.get(ctx, seqKey, clientv3.WithCountOnly())
	if err != nil {
		return 0, err
	}
	return res.Header.Revision, nil
}

// WaitEnded blocks until gpid has ended for good, or ctx is done, and
// returns its final record.
func (s *Store) WaitEnded(ctx context.Context, gpid model.GPID) (model.Process, error) {
	p, rev, err := s.Get(ctx, gpid)
	if err != nil || p.State.Ended() {
		return p, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for wr := range s.c.Watch(ctx, s.procKey(gpid), clientv3.WithRev(rev+1)) {
		if err := wr.Err(); err != nil {
			return p, fmt.Errorf("wait %s: %w", gpid, err)
		}
		for _, ev := range wr.Events {
			if ev.Type == clientv3.EventTypeDelete {
				return p, model.NoProcess(string(gpid))
			}
			if err := json.Unmarshal(ev.Kv.Value, &p); err != nil {
				return p, fmt.Errorf("decode %s: %w", gpid, err)
			}
			if p.State.Ended() {
				return p, nil
			}
		}
	}
	if ctx.Err() != nil {
		return p, ctx.Err()
	}
	return p, fmt.Errorf("wait %s: watch closed: %w", gpid, model.ErrUnavailable)
}

// Events calls fn for every recorded event, oldest first; with follow it
// then goes on with new ones until ctx is done or fn fails.
func (s *Store) Events(ctx context.Context, follow bool, fn func(model.Event) error) error {
	res, err := s.get(ctx, s.eventPrefix(), clientv3.WithPrefix())
	if err != nil {
		return fmt.Errorf("list events: %w", err)
	}
	for _, kv := range res.Kvs {
		var e model.Event
		if err := json.Unmarshal(kv.Value, &e); err != nil {
			return fmt.Errorf("decode %s: %w", kv.Key, err)
		}
		if err := fn(e); err != nil {
			return err
		}
	}
	if !follow {
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for wr := range s.c.Watch(ctx, s.eventPrefix(), clientv3.WithPrefix(), clientv3.WithRev(res.Header.Revision+1)) {
		if err := wr.Err(); err != nil {
			return fmt.Errorf("watch events: %w", err)
		}
		for _, ev := range wr.Events {
			if ev.Type != clientv3.EventTypePut {
				continue
			}
			var e model.Event
			if err := json.Unmarshal(ev.Kv.Value, &e); err != nil {
				return fmt.Errorf("decode %s: %w", ev.Kv.Key, err)
			}
			if err := fn(e); err != nil {
				return err
			}
		}
	}
	return ctx.Err()
}

// TrimEvents deletes the oldest events beyond the newest keep.
func (s *Store) TrimEvents(ctx context.Context, keep int64) error {
	res, err := s.get(ctx, s.eventPrefix(), clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		return fmt.Errorf("count events: %w", err)
	}
	excess := res.Count - keep
	if excess <= 0 {
		return nil
	}
	old, err := s.get(ctx, s.eventPrefix(), clientv3.WithPrefix(), clientv3.WithKeysOnly(), clientv3.WithLimit(excess))
	if err != nil || len(old.Kvs) == 0 {
		return err
	}
	last := string(old.Kvs[len(old.Kvs)-1].Key)
	_, err = s.c.Delete(ctx, s.eventPrefix(), clientv3.WithRange(last+"\x00"))
	return err
}

// PutNode writes the node record, which outlives the node, and its
// liveness key, bound to lease: the node is up while the lease lives.
func (s *Store) PutNode(ctx context.Context, n model.Node, lease clientv3.LeaseID) error {
	ops := []clientv3.Op{clientv3.OpPut(nodeKey(n.Name), encode(n))}
	if lease != 0 {
		ops = append(ops, clientv3.OpPut(aliveKey(n.Name), n.Address, clientv3.WithLease(lease)))
	}
	if _, err := s.c.Txn(ctx).Then(ops...).Commit(); err != nil {
		return writeErr("register node "+n.Name, err)
	}
	return nil
}

// NodeRecord is a node with whether its liveness key exists.
type NodeRecord struct {
	model.Node
	Up bool
}

// Nodes returns every node ever registered, up or not, by name.
func (s *Store) Nodes(ctx context.Context) ([]NodeRecord, error) {
	res, err := s.c.Txn(ctx).Then(
		clientv3.OpGet("/nefele/nodes/", clientv3.WithPrefix()),
		clientv3.OpGet("/nefele/alive/", clientv3.WithPrefix(), clientv3.WithKeysOnly()),
	).Commit()
	if err != nil {
		return nil, fmt.Errorf("list nodes: %w", err)
	}
	alive := map[string]bool{}
	for _, kv := range res.Responses[1].GetResponseRange().Kvs {
		alive[strings.TrimPrefix(string(kv.Key), "/nefele/alive/")] = true
	}
	kvs := res.Responses[0].GetResponseRange().Kvs
	out := make([]NodeRecord, 0, len(kvs))
	for _, kv := range kvs {
		var n model.Node
		if err := json.Unmarshal(kv.Value, &n); err != nil {
			return nil, fmt.Errorf("decode %s: %w", kv.Key, err)
		}
		out = append(out, NodeRecord{Node: n, Up: alive[n.Name]})
	}
	return out, nil
}
