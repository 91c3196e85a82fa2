package lintest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"
)

const (
	lockName = "lintest"
	// lockTimeout bounds a Lock: waiting in line, and behind a place a
	// killed agent left in the queue until its session (TTL 3 s) expires.
	lockTimeout = 10 * time.Second
	// minLockRounds is how many holdings each lock client tries at least;
	// it goes on until the faults are over.
	minLockRounds = 20
	// minClean is how many cleanly released holdings the exclusion check
	// needs to mean something.
	minClean = 40
)

// holding is one Lock that returned, and what became of it. Times are of
// the workload's clock.
type holding struct {
	client  int
	agent   string // the agent Lock went through
	token   int64
	call    int64 // Lock called
	locked  int64 // Lock returned
	unlock  int64 // Unlock called
	unlockd int64 // Unlock returned
	clean   bool  // Unlock returned nil: its place was there, so the lock was held until Unlock
	err     string
}

func (h holding) String() string {
	ms := func(ns int64) string { return fmt.Sprintf("%.1fms", float64(ns)/1e6) }
	s := fmt.Sprintf("client %d via %s token %d: Lock [%s, %s], Unlock [%s, %s]",
		h.client, h.agent, h.token, ms(h.call), ms(h.locked), ms(h.unlock), ms(h.unlockd))
	if !h.clean {
		s += " failed: " + h.err
	}
	return s
}

// lockClient takes the lock over and over. Only its goroutine uses it.
type lockClient struct {
	id       int
	conn     *failover
	rng      *rand.Rand
	clock    clock
	holdings []holding
	failed   failures // Locks that returned an error
}

// TestLockMutualExclusionAndFencing has five clients on three agents take
// one lock over and over, holding it a few milliseconds, while n2 and n3
// are SIGKILLed in turn and restarted after a second. A client whose call
// fails drops its client, and with it its session, and moves on to the
// next agent. Then, with the holdings ordered by fencing token:
//
//   - tokens are unique;
//   - a holder with a higher token got its Lock's answer after the lower
//     one called Lock (tokens follow the order of acquisition);
//   - a holder with a higher token got its Lock's answer after the lower
//     one called Unlock, whenever that Unlock succeeded (mutual exclusion).
//
// A holding whose Unlock failed may have lost the lock before it called
// Unlock (its session may have expired while its agent was down), so no
// later holding is held to that Unlock. The checks bind only what the
// clients saw, on the one monotonic clock of the test process.
func TestLockMutualExclusionAndFencing(t *testing.T) {
	t.Parallel()
	agents, b := startLoopback(t)
	clk, done := newClock(), make(chan struct{})
	ctx, cancel := context.WithTimeout(t.Context(), workloadTimeout)
	defer cancel()
	clients := make([]*lockClient, 5)
	errs := make([]error, len(clients))
	var wg sync.WaitGroup
	for id := range clients {
		c := &lockClient{id: id, conn: newFailover(b, id%3), rng: rand.New(rand.NewPCG(rand.Uint64(), uint64(id))),
			clock: clk}
		clients[id] = c
		wg.Go(func() { errs[id] = c.run(ctx, done) })
	}

	time.Sleep(700 * time.Millisecond)
	for round := range 3 {
		killRestart(t, agents, b, 1+round%2, time.Second)
		time.Sleep(time.Second)
	}
	close(done)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}

	var all []holding
	var failed failures
	for _, c := range clients {
		all = append(all, c.holdings...)
		failed.merge(c.failed)
	}
	clean := 0
	for _, h := range all {
		if h.clean {
			clean++
		} else {
			t.Logf("not released cleanly: %v", h)
		}
	}
	t.Logf("%d holdings, %d released cleanly; longest wait between holders: %v", len(all), clean, longestGap(all))
	failed.log(t, "failed Locks")
	for _, err := range checkHoldings(all) {
		t.Error(err)
	}
	if clean < minClean {
		t.Errorf("only %d holdings released cleanly, want %d for the exclusion check to mean something", clean, minClean)
	}
}

// checkHoldings returns the violations of exclusion and fencing among
// holdings (see TestLockMutualExclusionAndFencing), at most ten.
func checkHoldings(holdings []holding) []error {
	hs := slices.Clone(holdings)
	slices.SortFunc(hs, func(a, b holding) int { return cmp.Compare(a.token, b.token) })
	var errs []error
	for i, a := range hs {
		for _, b := range hs[i+1:] {
			switch {
			case len(errs) >= 10:
				return errs
			case b.token == a.token:
				errs = append(errs, fmt.Errorf("two holdings with one fencing token:\n\t%v\n\t%v", a, b))
			case b.locked <= a.call:
				errs = append(errs, fmt.Errorf("a higher fencing token was had before the lower one was asked for:\n\t%v\n\t%v", a, b))
			case a.clean && b.locked <= a.unlock:
				errs = append(errs, fmt.Errorf("two holders at once: the later took the lock before the earlier released it:\n\t%v\n\t%v", a, b))
			}
		}
	}
	return errs
}

// longestGap returns the longest time between a holder's Unlock and the
// next holder's Lock returning: how long the lock stayed free with
// clients waiting (after a kill: until the killed call's place goes).
func longestGap(holdings []holding) time.Duration {
	hs := slices.Clone(holdings)
	slices.SortFunc(hs, func(a, b holding) int { return cmp.Compare(a.token, b.token) })
	var gap int64
	for i := 1; i < len(hs); i++ {
		gap = max(gap, hs[i].locked-hs[i-1].unlockd)
	}
	return time.Duration(gap).Round(time.Millisecond)
}

func (c *lockClient) run(ctx context.Context, done <-chan struct{}) error {
	defer c.conn.close()
	for n := 0; n < minLockRounds || !closed(done); n++ {
		if ctx.Err() != nil {
			return fmt.Errorf("lock client %d: after %d rounds: %w", c.id, n, ctx.Err())
		}
		if err := c.round(ctx); err != nil {
			return fmt.Errorf("lock client %d: %w", c.id, err)
		}
	}
	return nil
}

// round takes the lock, holds it a few milliseconds and releases it.
func (c *lockClient) round(ctx context.Context) error {
	cl, err := c.conn.client()
	if err != nil {
		return err
	}
	m := cl.Mutex(lockName)
	h := holding{client: c.id, agent: c.conn.agent()}
	lctx, cancel := context.WithTimeout(ctx, lockTimeout)
	h.call = c.clock.now()
	h.token, err = m.Lock(lctx)
	h.locked = c.clock.now()
	cancel()
	if err != nil {
		// The call may have taken the lock without hearing so (its agent
		// died as it answered). The SDK retries a broken call in its own
		// place and removes a place it gave up on; dropping the client as
		// well (closing its session) makes sure no holding of a failed
		// call is left for the checks to misjudge.
		c.failed.add(err)
		c.conn.next()
		pause(ctx, c.rng, 100*time.Millisecond)
		return nil
	}
	pause(ctx, c.rng, 15*time.Millisecond) // the critical section
	uctx, cancel := context.WithTimeout(ctx, opTimeout)
	h.unlock = c.clock.now()
	err = m.Unlock(uctx)
	h.unlockd = c.clock.now()
	cancel()
	h.clean = err == nil
	if err != nil {
		h.err = err.Error()
		c.conn.next()
	}
	c.holdings = append(c.holdings, h)
	return nil
}
