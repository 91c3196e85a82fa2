package store

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/nefele/nefele/internal/model"
)

func drainKey(node string) string { return "/nefele/drain/" + node }

const (
	nodePrefix  = "/nefele/nodes/"
	alivePrefix = "/nefele/alive/"
	drainPrefix = "/nefele/drain/"
)

const externalKey = "/nefele/external-etcd"

// MarkExternal notes that the cluster keeps its state in an external etcd
// (agents started with --etcd-endpoints), whose members are not Nefele's
// to add.
func (s *Store) MarkExternal(ctx context.Context) error {
	if _, err := s.c.Put(ctx, externalKey, "true"); err != nil {
		return writeErr("mark the store external", err)
	}
	return nil
}

// External reports whether the cluster keeps its state in an external etcd.
func (s *Store) External(ctx context.Context) (bool, error) {
	res, err := s.get(ctx, externalKey, clientv3.WithCountOnly())
	if err != nil {
		return false, err
	}
	return res.Count > 0, nil
}

// SetDrained marks node drained (it takes no new processes) or not.
func (s *Store) SetDrained(ctx context.Context, node string, drained bool) error {
	var err error
	if drained {
		_, err = s.c.Put(ctx, drainKey(node), time.Now().UTC().Format(time.RFC3339))
	} else {
		_, err = s.c.Delete(ctx, drainKey(node))
	}
	if err != nil {
		return fmt.Errorf("drain %s: %w", node, err)
	}
	return nil
}

// View is a copy of the cluster's nodes, live processes and groups kept
// current by watches: what the scheduler and the reconciler decide over,
// without reading the store on every decision. It lags the store by the
// time a watch event takes (about a millisecond); decisions that must not
// act on stale data are made again in a store transaction.
type View struct {
	s *Store

	mu      sync.RWMutex // guards the maps and changed
	nodes   map[string]model.Node
	alive   map[string]bool
	lapsed  map[string]time.Time // when the view saw a node's liveness key go
	drained map[string]bool
	procs   map[model.GPID]model.Process // all kept records, ended ones too
	revs    map[model.GPID]int64         // their mod revisions
	groups  map[string]Group
	changed chan struct{} // closed and replaced on every change
	synced  chan struct{} // closed once the first snapshot is in
}

// NewView returns a view of s; Run fills it and keeps it current.
func (s *Store) NewView() *View {
	return &View{s: s, changed: make(chan struct{}), synced: make(chan struct{})}
}

// Run loads the view and follows the store until ctx is done; after a
// watch fails (compacted history, lost leader) it tells onErr and loads the
// view anew.
func (v *View) Run(ctx context.Context, onErr func(error)) error {
	for ctx.Err() == nil {
		rev, err := v.load(ctx)
		if err == nil {
			err = v.follow(ctx, rev)
		}
		if ctx.Err() != nil {
			break
		}
		onErr(err)
		select {
		case <-ctx.Done():
		case <-time.After(500 * time.Millisecond):
		}
	}
	return ctx.Err()
}

// Synced is closed once the view holds its first snapshot.
func (v *View) Synced() <-chan struct{} { return v.synced }

// Changed returns a channel closed at the next change of the view.
func (v *View) Changed() <-chan struct{} {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.changed
}

// prefixes are what the view watches. Process and group records share one
// watch (the tenant's prefix), so that the records one transaction writes
// reach the view together, in order.
func (v *View) prefixes() []string {
	return []string{nodePrefix, alivePrefix, drainPrefix, v.s.tenantPrefix()}
}

func (v *View) load(ctx context.Context) (int64, error) {
	ops := []clientv3.Op{
		clientv3.OpGet(nodePrefix, clientv3.WithPrefix()),
		clientv3.OpGet(alivePrefix, clientv3.WithPrefix()),
		clientv3.OpGet(drainPrefix, clientv3.WithPrefix()),
		clientv3.OpGet(v.s.procPrefix(), clientv3.WithPrefix()),
		clientv3.OpGet(v.s.groupPrefix(), clientv3.WithPrefix()),
	}
	res, err := v.s.c.Txn(ctx).Then(ops...).Commit()
	if err != nil {
		return 0, fmt.Errorf("load cluster view: %w", err)
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	v.nodes, v.alive, v.drained = map[string]model.Node{}, map[string]bool{}, map[string]bool{}
	if v.lapsed == nil {
		v.lapsed = map[string]time.Time{}
	}
	v.procs, v.revs, v.groups = map[model.GPID]model.Process{}, map[model.GPID]int64{}, map[string]Group{}
	for _, r := range res.Responses {
		for _, kv := range r.GetResponseRange().Kvs {
			v.apply(string(kv.Key), kv.Value, kv.ModRevision, false)
		}
	}
	v.notify()
	select {
	case <-v.synced:
	default:
		close(v.synced)
	}
	return res.Header.Revision, nil
}

func (v *View) follow(ctx context.Context, rev int64) error {
	ctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	events := make(chan clientv3.WatchResponse)
	for _, p := range v.prefixes() {
		wch := v.s.c.Watch(ctx, p, clientv3.WithPrefix(), clientv3.WithRev(rev+1))
		go func() {
			for wr := range wch {
				select {
				case events <- wr:
				case <-ctx.Done():
					return
				}
			}
			select {
			case events <- clientv3.WatchResponse{Canceled: true}:
			case <-ctx.Done():
			}
		}()
	}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case wr := <-events:
			if wr.Canceled || wr.Err() != nil {
				return fmt.Errorf("watch cluster view: %v", wr.Err())
			}
			v.mu.Lock()
			for _, ev := range wr.Events {
				v.apply(string(ev.Kv.Key), ev.Kv.Value, ev.Kv.ModRevision, ev.Type == clientv3.EventTypeDelete)
			}
			v.notify()
			v.mu.Unlock()
		}
	}
}

// apply takes one key's new value (or its deletion) into the view; the
// caller holds mu.
func (v *View) apply(key string, value []byte, rev int64, deleted bool) {
	switch {
	case strings.HasPrefix(key, nodePrefix):
		name := strings.TrimPrefix(key, nodePrefix)
		var n model.Node
		if deleted || json.Unmarshal(value, &n) != nil {
			delete(v.nodes, name)
			return
		}
		v.nodes[name] = n
	case strings.HasPrefix(key, alivePrefix):
		name := strings.TrimPrefix(key, alivePrefix)
		if deleted {
			delete(v.alive, name)
			v.lapsed[name] = time.Now()
		} else {
			v.alive[name] = true
		}
	case strings.HasPrefix(key, drainPrefix):
		name := strings.TrimPrefix(key, drainPrefix)
		if deleted {
			delete(v.drained, name)
		} else {
			v.drained[name] = true
		}
	case strings.HasPrefix(key, v.s.procPrefix()):
		gpid := model.GPID(strings.TrimPrefix(key, v.s.procPrefix()))
		var p model.Process
		if deleted || json.Unmarshal(value, &p) != nil {
			delete(v.procs, gpid)
			delete(v.revs, gpid)
			return
		}
		v.procs[gpid], v.revs[gpid] = p, rev
	case strings.HasPrefix(key, v.s.groupPrefix()):
		name := strings.TrimPrefix(key, v.s.groupPrefix())
		var g Group
		if deleted || json.Unmarshal(value, &g) != nil {
			delete(v.groups, name)
			return
		}
		g.Rev = rev
		v.groups[name] = g
	}
}

func (v *View) notify() {
	close(v.changed)
	v.changed = make(chan struct{})
}

// NodeState is a node as the view sees it.
type NodeState struct {
	model.Node
	Up, Drained bool
	// Allocated sums the requests of the node's live processes; its
	// MaxProcs is their number.
	Allocated model.Capacity
	// Groups counts the node's live processes by group.
	Groups map[string]int
}

// Nodes returns every known node, by name, with what is allocated there.
func (v *View) Nodes() []NodeState {
	v.mu.RLock()
	defer v.mu.RUnlock()
	byName := make(map[string]*NodeState, len(v.nodes))
	for name, n := range v.nodes {
		byName[name] = &NodeState{Node: n, Up: v.alive[name], Drained: v.drained[name], Groups: map[string]int{}}
		// A node is last seen when its lease lapsed, if the view saw that
		// (its record says when it last wrote it, once a minute).
		if t, ok := v.lapsed[name]; ok && !v.alive[name] && t.After(n.LastSeen) {
			byName[name].LastSeen = t
		}
	}
	for _, p := range v.procs {
		n := byName[p.Node]
		if n == nil || p.State.Ended() {
			continue
		}
		n.Allocated.CPUMilli += p.Spec.Resources.CPUMilli
		n.Allocated.MemoryBytes += p.Spec.Resources.MemoryBytes
		n.Allocated.MaxProcs++
		if p.Group != "" {
			n.Groups[p.Group]++
		}
	}
	out := make([]NodeState, 0, len(byName))
	for _, name := range slices.Sorted(maps.Keys(byName)) {
		out = append(out, *byName[name])
	}
	return out
}

// Live returns the live processes (not ended), by GPID order.
func (v *View) Live() []model.Process {
	v.mu.RLock()
	out := make([]model.Process, 0, len(v.procs))
	for _, p := range v.procs {
		if !p.State.Ended() {
			out = append(out, p)
		}
	}
	v.mu.RUnlock()
	SortByGPID(out)
	return out
}

// Refused returns the processes that failed because the agent of their
// node refused them for want of room.
func (v *View) Refused() []model.Process {
	v.mu.RLock()
	defer v.mu.RUnlock()
	var out []model.Process
	for _, p := range v.procs {
		if p.State == model.StateFailed && p.Failure == "no_capacity" {
			out = append(out, p)
		}
	}
	SortByGPID(out)
	return out
}

// Process returns the kept record of gpid, ended or not, and its mod
// revision.
func (v *View) Process(gpid model.GPID) (model.Process, int64, bool) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	p, ok := v.procs[gpid]
	return p, v.revs[gpid], ok
}

// Group returns the record of group name.
func (v *View) Group(name string) (Group, bool) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	g, ok := v.groups[name]
	return g, ok
}

// Groups returns the groups (names run with --replicas), by name.
func (v *View) Groups() []Group {
	v.mu.RLock()
	defer v.mu.RUnlock()
	var out []Group
	for _, name := range slices.Sorted(maps.Keys(v.groups)) {
		if g := v.groups[name]; g.IsGroup || g.Replicas > 0 {
			out = append(out, g)
		}
	}
	return out
}

// Drained reports whether node is drained.
func (v *View) Drained(node string) bool {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.drained[node]
}
