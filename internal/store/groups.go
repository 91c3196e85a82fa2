package store

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/nefele/nefele/internal/model"
)

// Group is the record of a name: the processes that hold it now and, for a
// group (run with --replicas), how many it should have. The reconciler
// keeps a group's live members at Replicas, from Spec.
type Group struct {
	Name  string       `json:"name"`
	GPIDs []model.GPID `json:"gpids"`
	// IsGroup is set for a group; a lone named process has a record too.
	IsGroup   bool       `json:"group,omitempty"`
	Replicas  int        `json:"replicas,omitempty"`
	Spec      model.Spec `json:"spec"`
	CreatedAt time.Time  `json:"created_at"`
	// Rev is the record's mod revision, as the View read it.
	Rev int64 `json:"-"`
}

// Group returns the record of name and its mod revision.
func (s *Store) Group(ctx context.Context, name string) (Group, int64, error) {
	res, err := s.get(ctx, s.groupKey(name))
	if err != nil {
		return Group{}, 0, fmt.Errorf("look up name %s: %w", name, err)
	}
	if len(res.Kvs) == 0 {
		return Group{}, 0, model.NoProcess(name)
	}
	var g Group
	if err := json.Unmarshal(res.Kvs[0].Value, &g); err != nil {
		return Group{}, 0, fmt.Errorf("decode group %s: %w", name, err)
	}
	return g, res.Kvs[0].ModRevision, nil
}

// SetReplicas sets how many members group name should have and returns its
// record. It fails with model.ErrNotGroup when name is a lone process.
func (s *Store) SetReplicas(ctx context.Context, name string, n int) (Group, error) {
	for {
		g, rev, err := s.Group(ctx, name)
		if err != nil {
			return g, err
		}
		if !g.IsGroup && g.Replicas == 0 {
			return g, &model.SubjectError{Subject: name, Err: model.ErrNotGroup,
				Msg: fmt.Sprintf("%s is a lone process, not a group: only a name run with --replicas can be scaled", name)}
		}
		g.IsGroup, g.Replicas = true, n
		ok, err := s.putGroup(ctx, g, rev)
		if err != nil || ok {
			return g, err
		}
	}
}

func (s *Store) putGroup(ctx context.Context, g Group, rev int64, ops ...clientv3.Op) (bool, error) {
	ops = append(ops, clientv3.OpPut(s.groupKey(g.Name), encode(g)))
	txn, err := s.c.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision(s.groupKey(g.Name)), "=", rev)).Then(ops...).Commit()
	if err != nil {
		return false, writeErr("update group "+g.Name, err)
	}
	return txn.Succeeded, nil
}

// AddMembers creates the records of new members of g (read at revision
// rev), with their assignments and first events, and adds them to g, in one
// transaction that fails (returning false) if g changed since.
func (s *Store) AddMembers(ctx context.Context, g Group, rev int64, procs []model.Process) (bool, error) {
	var ops []clientv3.Op
	for _, p := range procs {
		ops = append(ops, s.createOps(p)...)
		g.GPIDs = append(g.GPIDs, p.GPID)
	}
	return s.putGroup(ctx, g, rev, ops...)
}

// DropMembers removes gpids, which have ended, from g (read at revision
// rev) and sets its count to replicas, in a transaction that fails
// (returning false) if g changed since.
func (s *Store) DropMembers(ctx context.Context, g Group, rev int64, gpids []model.GPID, replicas int) (bool, error) {
	g.GPIDs = slices.DeleteFunc(g.GPIDs, func(gp model.GPID) bool { return slices.Contains(gpids, gp) })
	g.Replicas = replicas
	return s.putGroup(ctx, g, rev)
}

func (s *Store) createOps(p model.Process) []clientv3.Op {
	e := eventOf("", p)
	return []clientv3.Op{
		clientv3.OpPut(s.procKey(p.GPID), encode(p)),
		clientv3.OpPut(assignKey(p.Node, p.GPID), string(p.GPID)),
		clientv3.OpPut(s.eventKey(e), encode(e)),
	}
}

// Replace records lost (a process whose node died) as lost and, when
// replacement is not nil, creates the replacement with its assignment and
// puts it in lost's place in its name's group, all in one transaction that
// fails (returning false) if lost's record changed since rev.
func (s *Store) Replace(ctx context.Context, lost model.Process, rev int64, replacement *model.Process) (bool, error) {
	from := lost.State
	lost.State = model.StateLost // its pid stays, so that its node can fence it if it returns
	lost.EndedAt, lost.Reason = time.Now(), "its node "+lost.Node+" is down"
	if replacement != nil {
		lost.Reason += "; replaced by " + string(replacement.GPID) + " on " + replacement.Node
	}
	ops := []clientv3.Op{clientv3.OpDelete(assignKey(lost.Node, lost.GPID))}
	return s.succeed(ctx, from, lost, rev, replacement, ops)
}

// Handover creates replacement, a process that takes over from old (whose
// node is drained), and puts it in old's place in its name's group; old
// keeps running, marked as replaced, until it is stopped. The transaction
// fails (returning false) if old's record changed since rev.
func (s *Store) Handover(ctx context.Context, old model.Process, rev int64, replacement model.Process) (bool, error) {
	old.Reason = "node " + old.Node + " drained: replaced by " + string(replacement.GPID) + " on " + replacement.Node
	return s.succeed(ctx, old.State, old, rev, &replacement, nil)
}

// succeed writes old and, when replacement is not nil, creates the
// replacement in old's place in its group, with ops, if old's record is
// still at rev.
func (s *Store) succeed(ctx context.Context, from model.State, old model.Process, rev int64, replacement *model.Process, ops []clientv3.Op) (bool, error) {
	cmps := []clientv3.Cmp{clientv3.Compare(clientv3.ModRevision(s.procKey(old.GPID)), "=", rev)}
	if replacement != nil {
		old.ReplacedBy = replacement.GPID
		ops = append(ops, s.createOps(*replacement)...)
		if old.Name != "" {
			g, grev, err := s.Group(ctx, old.Name)
			if err == nil {
				for i, gp := range g.GPIDs {
					if gp == old.GPID {
						g.GPIDs[i] = replacement.GPID
					}
				}
				ops = append(ops, clientv3.OpPut(s.groupKey(g.Name), encode(g)))
				cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(s.groupKey(g.Name)), "=", grev))
			} else if !isNoProcess(err) {
				return false, fmt.Errorf("replace %s: %w", old.GPID, err)
			}
		}
	}
	ops = append(ops, clientv3.OpPut(s.procKey(old.GPID), encode(old)))
	if from != old.State {
		e := eventOf(from, old)
		ops = append(ops, clientv3.OpPut(s.eventKey(e), encode(e)))
	}
	txn, err := s.c.Txn(ctx).If(cmps...).Then(ops...).Commit()
	if err != nil {
		return false, writeErr("replace "+string(old.GPID), err)
	}
	return txn.Succeeded, nil
}
