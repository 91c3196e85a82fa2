package lintest

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	nefele "github.com/nefele/nefele/sdk"
)

const (
	// opTimeout bounds one call; a write that runs out of it has an
	// unknown outcome.
	opTimeout = 3 * time.Second
	// workloadTimeout bounds a whole workload: one still running then
	// means calls that never end, and fails the test.
	workloadTimeout = 45 * time.Second
	// minKVOps is how many operations each KV client makes at least; it
	// goes on until the faults are over.
	minKVOps = 150
)

// kvKeys are the keys of the KV workloads: few, so that clients collide.
var kvKeys = []string{"x", "y", "z"}

// placement is where a workload client finds the agents, and which of
// them is its own.
type placement struct {
	book *book
	home int
}

// kvClient makes random Get, Put and CompareAndSwap calls and records them
// in a history. Only its goroutine uses it.
type kvClient struct {
	id    int // porcupine's ClientId
	conn  *failover
	rng   *rand.Rand
	hist  *history
	clock clock
	read  map[string]string // the value last seen of each key seen ("": absent)
	seq   int               // of the values it writes, which are unique
}

// runKV starts a kvClient per placement, each making at least minKVOps
// calls and going on until done is closed. wait waits for them and
// returns what kept them from running (not the failures of calls, which
// are part of the history).
func runKV(ctx context.Context, at []placement, h *history, clk clock, done <-chan struct{}) (wait func() error) {
	var wg sync.WaitGroup
	errs := make([]error, len(at))
	for id, p := range at {
		c := &kvClient{id: id, conn: newFailover(p.book, p.home), rng: rand.New(rand.NewPCG(rand.Uint64(), uint64(id))),
			hist: h, clock: clk, read: map[string]string{}}
		wg.Go(func() { errs[id] = c.run(ctx, done) })
	}
	return func() error {
		wg.Wait()
		return errors.Join(errs...)
	}
}

func (c *kvClient) run(ctx context.Context, done <-chan struct{}) error {
	defer c.conn.close()
	for n := 0; n < minKVOps || !closed(done); n++ {
		if ctx.Err() != nil {
			return fmt.Errorf("kv client %d: after %d calls: %w", c.id, n, ctx.Err())
		}
		if err := c.call(ctx); err != nil {
			return fmt.Errorf("kv client %d: %w", c.id, err)
		}
		// Think time, which spreads the calls over the faults.
		pause(ctx, c.rng, 30*time.Millisecond)
	}
	return nil
}

// pick chooses the next call: a Get, a Put of a new value, or a
// CompareAndSwap from the value last seen to a new one.
func (c *kvClient) pick() kvInput {
	key := kvKeys[c.rng.IntN(len(kvKeys))]
	c.seq++
	value := fmt.Sprintf("c%d.%d", c.id, c.seq)
	seen, ok := c.read[key]
	switch r := c.rng.IntN(10); {
	case r < 4, r >= 6 && !ok:
		return kvInput{op: opGet, key: key}
	case r < 6:
		return kvInput{op: opPut, key: key, value: value}
	}
	return kvInput{op: opCAS, key: key, value: value, expect: seen}
}

// call makes one call through the agent in use and records it; after a
// failure it moves on to the next agent, as a real client would.
func (c *kvClient) call(ctx context.Context) error {
	in := c.pick()
	cl, err := c.conn.client()
	if err != nil {
		return err
	}
	cctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	call := c.clock.now()
	out, err := apply(cctx, cl.KV(), in)
	ret := c.clock.now()
	c.record(in, out, err, call, ret)
	if err != nil {
		c.conn.next()
		pause(ctx, c.rng, 100*time.Millisecond) // a client's backoff
	}
	return nil
}

// apply makes the call in.
func apply(ctx context.Context, kv *nefele.KV, in kvInput) (kvOutput, error) {
	switch in.op {
	case opGet:
		got, err := kv.Get(ctx, in.key)
		if errors.Is(err, nefele.ErrKeyNotFound) {
			return kvOutput{}, nil
		}
		if err != nil {
			return kvOutput{}, err
		}
		return kvOutput{value: string(got.Value)}, nil
	case opPut:
		_, err := kv.Put(ctx, in.key, []byte(in.value))
		return kvOutput{}, err
	}
	expect := nefele.HasValue([]byte(in.expect))
	if in.expect == "" {
		expect = nefele.Absent()
	}
	swapped, cur, err := kv.CompareAndSwap(ctx, in.key, expect, []byte(in.value))
	if err != nil {
		return kvOutput{}, err
	}
	out := kvOutput{swapped: swapped}
	if cur != nil {
		out.value = string(cur.Value)
	}
	return out, nil
}

// record adds the call to the history. A failed read tells nothing and is
// dropped, and so is a call that reached no agent; a failed write may have
// applied or not: it stays, with an unknown outcome and no return.
func (c *kvClient) record(in kvInput, out kvOutput, err error, call, ret int64) {
	op := porcupine.Operation{ClientId: c.id, Input: in, Call: call, Output: out, Return: ret}
	switch {
	case err == nil:
		c.hist.add(op, nil)
		if in.op != opPut {
			c.read[in.key] = out.value
		}
	case errors.Is(err, nefele.ErrUnreachable), in.op == opGet:
		c.hist.drop(err)
	default:
		op.Output, op.Return = kvOutput{unknown: true}, never
		c.hist.add(op, err)
	}
}

// kind names the kind of a failed call, for the summary of failures.
func kind(err error) string {
	var e *nefele.Error
	switch {
	case errors.Is(err, nefele.ErrUnreachable):
		return "unreachable"
	case errors.As(err, &e):
		return e.ReasonString() + "/" + e.Code.String()
	case errors.Is(err, context.DeadlineExceeded):
		return "deadline"
	}
	return "other"
}

// failures counts failed calls by kind, with the message of the first of
// each kind. The zero value is ready to use.
type failures struct {
	n      map[string]int
	sample map[string]string
}

func (f *failures) add(err error) {
	if f.n == nil {
		f.n, f.sample = map[string]int{}, map[string]string{}
	}
	k := kind(err)
	f.n[k]++
	if _, ok := f.sample[k]; !ok {
		f.sample[k] = err.Error()
	}
}

func (f *failures) merge(g failures) {
	for k, n := range g.n {
		if f.n == nil {
			f.n, f.sample = map[string]int{}, map[string]string{}
		}
		f.n[k] += n
		if _, ok := f.sample[k]; !ok {
			f.sample[k] = g.sample[k]
		}
	}
}

func (f *failures) log(t *testing.T, what string) {
	t.Helper()
	t.Logf("%s by kind: %v", what, f.n)
	for _, k := range slices.Sorted(maps.Keys(f.sample)) {
		t.Logf("  %s, like: %s", k, f.sample[k])
	}
}

// closed reports whether done is closed.
func closed(done <-chan struct{}) bool {
	select {
	case <-done:
		return true
	default:
		return false
	}
}

// pause waits a random time below max, or until ctx is done: a client's
// think time or backoff, which the workload is made of.
func pause(ctx context.Context, rng *rand.Rand, max time.Duration) {
	t := time.NewTimer(time.Duration(rng.Int64N(int64(max))))
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
