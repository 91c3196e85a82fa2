package e2e

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nefele/nefele/internal/testcluster"
	nefele "github.com/nefele/nefele/sdk"
)

// TestElections: one leader at a time, in the order candidates came, with
// increasing term revisions; Leader and Observe; the next leads when the
// leader resigns or its process is SIGKILLed; `nefele elect`.
func TestElections(t *testing.T) {
	agents := testcluster.Start(t, 3)
	ctx := ctxT(t)
	c1, c2, c3 := agents[0].Client(), agents[1].Client(), agents[2].Client()
	e1, e2 := c1.Election("sched"), c2.Election("sched")
	if _, err := e1.Leader(ctx); !errors.Is(err, nefele.ErrNoLeader) {
		t.Fatalf("leader of an election without candidates: %v, want ErrNoLeader", err)
	}
	rev1, err := e1.Campaign(ctx, []byte("one"))
	if err != nil {
		t.Fatal(err)
	}
	seen := make(chan string, 8)
	octx, cancel := context.WithCancel(ctx)
	defer cancel()
	go c3.Election("sched").Observe(octx, func(l *nefele.ElectionLeader) error {
		if l == nil {
			seen <- "none"
		} else {
			seen <- string(l.Value)
		}
		return nil
	})
	if got := <-seen; got != "one" {
		t.Fatalf("observe: first %q, want one", got)
	}
	led := make(chan int64, 1)
	go func() {
		rev, err := e2.Campaign(ctx, []byte("two"))
		if err == nil {
			led <- rev
		}
	}()
	select {
	case <-led:
		t.Fatal("a second candidate leads while the first does")
	case <-time.After(300 * time.Millisecond):
	}
	if l, err := e2.Leader(ctx); err != nil || string(l.Value) != "one" {
		t.Fatalf("leader: %v %v, want one", l, err)
	}
	if err := e1.Resign(ctx); err != nil {
		t.Fatal(err)
	}
	var rev2 int64
	select {
	case rev2 = <-led:
	case <-time.After(10 * time.Second):
		t.Fatal("the second candidate does not lead after the first resigned")
	}
	if rev2 <= rev1 {
		t.Fatalf("term revisions %d then %d: not increasing", rev1, rev2)
	}
	if got := <-seen; got != "two" {
		t.Fatalf("observe after the resignation: %q, want two", got)
	}
	e2.Resign(ctx)
	if got := <-seen; got != "none" {
		t.Fatalf("observe with no candidate left: %q, want none", got)
	}

	// A leading process that is SIGKILLed hands over at once.
	p := spawn(t, c1, nefele.SpawnOptions{}, roleSpec("campaign sched"))[0]
	waitLog(t, c1, p.Gpid, "leading sched")
	if l, err := e1.Leader(ctx); err != nil || l.Gpid != p.Gpid {
		t.Fatalf("leader: %v %v, want the process %s", l, err, p.Gpid)
	}
	go func() {
		if rev, err := e2.Campaign(ctx, []byte("after")); err == nil {
			led <- rev
		}
	}()
	time.Sleep(200 * time.Millisecond)
	c1.Signal(ctx, p.Gpid, "KILL")
	select {
	case <-led:
	case <-time.After(10 * time.Second):
		t.Fatal("no new leader after the leading process was SIGKILLed")
	}
	e2.Resign(ctx)

	r := agents[2].CLI(nil, "elect", "cron", "--", "sh", "-c", "echo rev=$NEFELE_ELECTION_REVISION; exit 4")
	if r.Code != 4 || !strings.HasPrefix(r.Stdout, "rev=") || r.Stdout == "rev=\n" {
		t.Fatalf("nefele elect: code %d, out %q, err %q", r.Code, r.Stdout, r.Stderr)
	}
	if _, err := c1.Election("cron").Leader(ctx); !errors.Is(err, nefele.ErrNoLeader) {
		t.Fatalf("after nefele elect ended: %v, want no leader", err)
	}
}

// TestBarriers: a barrier opens when its count has arrived, stays open,
// and a participant that dies while it waits does not count.
func TestBarriers(t *testing.T) {
	agents := testcluster.Start(t, 3)
	ctx := ctxT(t)
	var wg sync.WaitGroup
	arrived := make([]int, 3)
	errs := make([]error, 3)
	for i := range 3 {
		c := agents[i].Client()
		wg.Go(func() { arrived[i], errs[i] = c.Barrier(ctx, "start", 3) })
	}
	wg.Wait()
	most := 0
	for i := range 3 {
		if errs[i] != nil {
			t.Fatalf("participant %d: %v", i, errs[i])
		}
		most = max(most, arrived[i])
	}
	if most != 3 {
		t.Fatalf("arrivals seen when the barrier opened: %v; want the first to see 3", arrived)
	}
	if _, err := agents[0].Client().Barrier(ctx, "start", 3); err != nil {
		t.Fatalf("a late arrival at an open barrier: %v", err)
	}

	// One waits in a process that dies; two others then are not enough.
	c := agents[0].Client()
	p := spawn(t, c, nefele.SpawnOptions{}, roleSpec("barrier gate 3"))[0]
	waitLog(t, c, p.Gpid, "waiting at gate")
	time.Sleep(200 * time.Millisecond)
	c.Signal(ctx, p.Gpid, "KILL")
	wait(t, c, p.Gpid)
	passed := make(chan error, 3)
	for i := range 2 {
		cl := agents[i+1].Client()
		go func() { _, err := cl.Barrier(ctx, "gate", 3); passed <- err }()
	}
	select {
	case err := <-passed:
		t.Fatalf("the barrier opened with 2 of 3 alive (one died waiting): %v", err)
	case <-time.After(time.Second):
	}
	go func() { _, err := agents[0].Client().Barrier(ctx, "gate", 3); passed <- err }()
	for range 3 {
		select {
		case err := <-passed:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the barrier did not open when the third live participant came")
		}
	}
	if _, err := c.Barrier(ctx, "x", 0); !errors.Is(err, nefele.ErrInvalid) {
		t.Fatalf("barrier of 0: %v, want ErrInvalid", err)
	}
}
