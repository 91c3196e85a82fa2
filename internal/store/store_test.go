package store

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/nefele/nefele/internal/etcdembed"
	"github.com/nefele/nefele/internal/model"
)

// newStore starts a real embedded etcd member in a temp dir.
func newStore(t *testing.T) *Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	m, err := etcdembed.Start(ctx, etcdembed.Config{Dir: t.TempDir() + "/etcd", Name: "test", TickMs: 10, ElectionMs: 100})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	return New(m.Client())
}

func TestReserveGPIDsNeverOverlap(t *testing.T) {
	s := newStore(t)
	const workers, blocks, size = 8, 10, 7
	firsts := make(chan uint64, workers*blocks)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range blocks {
				first, err := s.ReserveGPIDs(context.Background(), size)
				if err != nil {
					t.Error(err)
					return
				}
				firsts <- first
			}
		})
	}
	wg.Wait()
	close(firsts)
	seen := map[uint64]bool{}
	for first := range firsts {
		for n := first; n < first+size; n++ {
			if seen[n] || n == 0 {
				t.Fatalf("sequence number %d reserved twice (or zero)", n)
			}
			seen[n] = true
		}
	}
	if len(seen) != workers*blocks*size {
		t.Fatalf("%d numbers reserved, want %d", len(seen), workers*blocks*size)
	}
}

func proc(g string, name string) model.Process {
	return model.Process{GPID: model.GPID(g), Name: name, Node: "n1", State: model.StatePending,
		Spec: model.Spec{Command: []string{"true"}}, CreatedAt: time.Now()}
}

func TestNameTakenByOneOfConcurrentCreates(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	const n = 6
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			errs[i] = s.Create(ctx, "web", 0, []model.Process{proc(string(model.FormatGPID(uint64(i+1))), "web")})
		})
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, model.ErrNameInUse):
			t.Fatalf("create: %v, want nil or ErrNameInUse", err)
		}
	}
	if won != 1 {
		t.Fatalf("%d creates took the name, want exactly 1", won)
	}
	procs, err := s.Resolve(ctx, "web")
	if err != nil || len(procs) != 1 {
		t.Fatalf("resolve web: %v %v", procs, err)
	}
	// Once its process has ended, the name can be taken again.
	p := procs[0]
	from := p.State
	p.State = model.StateExited
	if err := s.Put(ctx, from, p); err != nil {
		t.Fatal(err)
	}
	if err := s.Create(ctx, "web", 0, []model.Process{proc("p99", "web")}); err != nil {
		t.Fatalf("name of an ended process not free: %v", err)
	}
}

func TestPutRecordsEventsAndAssignment(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	p := proc("p1", "")
	if err := s.Create(ctx, "", 0, []model.Process{p}); err != nil {
		t.Fatal(err)
	}
	for _, to := range []model.State{model.StateStarting, model.StateRunning, model.StateExited} {
		from := p.State
		p.State = to
		if err := s.Put(ctx, from, p); err != nil {
			t.Fatal(err)
		}
	}
	var got []model.State
	s.Events(ctx, false, func(e model.Event) error { got = append(got, e.To); return nil })
	want := []model.State{model.StatePending, model.StateStarting, model.StateRunning, model.StateExited}
	if len(got) != len(want) {
		t.Fatalf("events %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("events %v, want %v", got, want)
		}
	}
	if assigned, _ := s.Assigned(ctx, "n1"); len(assigned) != 0 {
		t.Fatalf("an ended process is still assigned: %v", assigned)
	}
	if _, err := s.Resolve(ctx, "p7"); !errors.Is(err, model.ErrNoProcess) {
		t.Fatalf("resolve of an unknown GPID: %v", err)
	}
}
