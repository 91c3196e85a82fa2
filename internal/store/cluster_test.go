package store

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nefele/nefele/internal/model"
)

// TestPutAfterReplaceIsFenced: once a process was replaced, its old node's
// writes from a live state are refused with ErrFenced, and the record stays
// as the replacement left it.
func TestPutAfterReplaceIsFenced(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	p := proc("p1", "web")
	p.Group = "web"
	if err := s.Create(ctx, "web", 1, []model.Process{p}); err != nil {
		t.Fatal(err)
	}
	p.State = model.StateRunning
	if err := s.Put(ctx, model.StatePending, p); err != nil {
		t.Fatal(err)
	}
	_, rev, err := s.Get(ctx, "p1")
	if err != nil {
		t.Fatal(err)
	}
	repl := proc("p2", "web")
	repl.Group, repl.Node = "web", "n2"
	if ok, err := s.Replace(ctx, p, rev, &repl); err != nil || !ok {
		t.Fatalf("replace: %v %v", ok, err)
	}
	if ok, err := s.Replace(ctx, p, rev, &repl); err != nil || ok {
		t.Fatalf("a second replace from the same revision: %v %v, want refused", ok, err)
	}
	p.State = model.StateBackoff
	if err := s.Put(ctx, model.StateRunning, p); !errors.Is(err, model.ErrFenced) {
		t.Fatalf("write of the replaced process by its old node: %v, want ErrFenced", err)
	}
	got, _, _ := s.Get(ctx, "p1")
	if got.State != model.StateLost || got.ReplacedBy != "p2" {
		t.Fatalf("record after a fenced write: %s replaced by %q, want lost, replaced by p2", got.State, got.ReplacedBy)
	}
	procs, err := s.Resolve(ctx, "web")
	if err != nil || len(procs) != 1 || procs[0].GPID != "p2" {
		t.Fatalf("web resolves to %v %v, want the replacement p2", procs, err)
	}
	// A restart of an ended process writes from an ended state: allowed.
	got.State = model.StatePending
	if err := s.Put(ctx, model.StateLost, got); err != nil {
		t.Fatalf("write from an ended state: %v", err)
	}
}

// TestGroupMembersAndCount: scale sets the count of a group only, and
// member changes are conditional on the group's revision.
func TestGroupMembersAndCount(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	if err := s.Create(ctx, "lone", 0, []model.Process{proc("p1", "lone")}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SetReplicas(ctx, "lone", 3); !errors.Is(err, model.ErrNotGroup) {
		t.Fatalf("scale of a lone process: %v, want ErrNotGroup", err)
	}
	if _, err := s.SetReplicas(ctx, "nosuch", 3); !errors.Is(err, model.ErrNoProcess) {
		t.Fatalf("scale of an unknown name: %v, want ErrNoProcess", err)
	}
	m := proc("p2", "g")
	m.Group = "g"
	if err := s.Create(ctx, "g", 1, []model.Process{m}); err != nil {
		t.Fatal(err)
	}
	if g, err := s.SetReplicas(ctx, "g", 2); err != nil || g.Replicas != 2 || g.Spec.Command[0] != "true" {
		t.Fatalf("scale g 2: %+v %v", g, err)
	}
	g, rev, err := s.Group(ctx, "g")
	if err != nil {
		t.Fatal(err)
	}
	more := proc("p3", "g")
	more.Group, more.Replica = "g", 1
	if ok, err := s.AddMembers(ctx, g, rev, []model.Process{more}); err != nil || !ok {
		t.Fatalf("add a member: %v %v", ok, err)
	}
	if ok, err := s.AddMembers(ctx, g, rev, []model.Process{more}); err != nil || ok {
		t.Fatalf("add from a stale revision: %v %v, want refused", ok, err)
	}
	if assigned, _ := s.Assigned(ctx, "n1"); len(assigned) != 3 {
		t.Fatalf("%d processes assigned to n1, want 3 (p1, p2, p3)", len(assigned))
	}
	g, rev, _ = s.Group(ctx, "g")
	if ok, err := s.DropMembers(ctx, g, rev, []model.GPID{"p2"}, 1); err != nil || !ok {
		t.Fatalf("drop a member: %v %v", ok, err)
	}
	if g, _, _ := s.Group(ctx, "g"); len(g.GPIDs) != 1 || g.GPIDs[0] != "p3" || g.Replicas != 1 {
		t.Fatalf("group after the drop: %+v, want p3 alone and a count of 1", g)
	}
}

// TestViewFollowsTheStore: the view loads what is there and follows
// changes: nodes, liveness, drains, live processes and their allocation.
func TestViewFollowsTheStore(t *testing.T) {
	s := newStore(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := s.PutNode(ctx, model.Node{Name: "n1", CPU: 2}, 0); err != nil {
		t.Fatal(err)
	}
	v := s.NewView()
	go v.Run(ctx, func(err error) { t.Logf("view: %v", err) })
	<-v.Synced()
	until := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("view: %s: not after 10s", what)
			}
			changed := v.Changed()
			select {
			case <-changed:
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	until("n1 known, down", func() bool { n := v.Nodes(); return len(n) == 1 && !n[0].Up })
	lease, err := s.Client().Grant(ctx, 5)
	if err != nil {
		t.Fatal(err)
	}
	s.PutNode(ctx, model.Node{Name: "n1", CPU: 2}, lease.ID)
	until("n1 up", func() bool { return v.Nodes()[0].Up })
	p := proc("p1", "")
	p.Spec.Resources = model.Resources{CPUMilli: 500, MemoryBytes: 1 << 20}
	p.Group = "g"
	s.Create(ctx, "", 0, []model.Process{p})
	until("p1 allocated on n1", func() bool {
		n := v.Nodes()[0]
		return n.Allocated == model.Capacity{CPUMilli: 500, MemoryBytes: 1 << 20, MaxProcs: 1} && n.Groups["g"] == 1
	})
	s.SetDrained(ctx, "n1", true)
	until("n1 drained", func() bool { return v.Drained("n1") && v.Nodes()[0].Drained })
	p.State = model.StateExited
	s.Put(ctx, model.StatePending, p)
	until("p1 ended, nothing allocated", func() bool { return len(v.Live()) == 0 && v.Nodes()[0].Allocated == model.Capacity{} })
	if got, _, ok := v.Process("p1"); !ok || got.State != model.StateExited {
		t.Fatalf("the view forgot the ended p1: %v %v", got.State, ok)
	}
	s.Client().Revoke(ctx, lease.ID)
	until("n1 down", func() bool { return !v.Nodes()[0].Up })
}
