package lintest

import (
	"context"
	"testing"
	"time"
)

// TestKVLinearizable runs six KV clients, two starting on each agent of a
// three-server cluster, while n2 and n3 are SIGKILLed in turn (one at a
// time, so the store keeps its quorum) and restarted on their data dirs
// after a second; porcupine then checks the history against a register
// per key.
func TestKVLinearizable(t *testing.T) {
	t.Parallel()
	agents, b := startLoopback(t)
	var at []placement
	for i := range 6 {
		at = append(at, placement{book: b, home: i / 2})
	}
	h, clk, done := &history{}, newClock(), make(chan struct{})
	ctx, cancel := context.WithTimeout(t.Context(), workloadTimeout)
	defer cancel()
	wait := runKV(ctx, at, h, clk, done)

	// The schedule of faults is the test's input: sleeps are its timing.
	time.Sleep(700 * time.Millisecond)
	for round := range 3 {
		killRestart(t, agents, b, 1+round%2, time.Second)
		time.Sleep(700 * time.Millisecond)
	}
	last := clk.now()
	time.Sleep(time.Second)
	close(done)
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	if h.okAfter(last) == 0 {
		t.Errorf("no call made after the last restart returned")
	}
	checkLinearizable(t, h)
}

// TestKVLinearizableUnderPartition runs six KV clients, two in each host of
// a cluster in network namespaces, while host 1 is cut off from the others
// for 5 s and healed: its clients go on calling its agent, which has lost
// the store's quorum (n1 founded the cluster, so it most likely led the
// raft group until the cut), and fail over to the others, which they
// cannot reach. The clients stay in the test process and reach the hosts
// through proxies (see proxy). Needs root.
func TestKVLinearizableUnderPartition(t *testing.T) {
	t.Parallel()
	nw, books := startNamespaced(t)
	var at []placement
	for i := range 6 {
		at = append(at, placement{book: books[i/2], home: i / 2})
	}
	h, clk, done := &history{}, newClock(), make(chan struct{})
	ctx, cancel := context.WithTimeout(t.Context(), workloadTimeout)
	defer cancel()
	wait := runKV(ctx, at, h, clk, done)

	time.Sleep(time.Second)
	nw.Partition(1)
	t.Log("cut off host 1")
	time.Sleep(5 * time.Second)
	nw.Heal(1)
	t.Log("healed host 1")
	healed := clk.now()
	time.Sleep(3 * time.Second)
	close(done)
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	if h.okAfter(healed) == 0 {
		t.Errorf("no call made after the heal returned")
	}
	checkLinearizable(t, h)
}
