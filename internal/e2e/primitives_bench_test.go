package e2e

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"

	"github.com/nefele/nefele/internal/testcluster"
	nefele "github.com/nefele/nefele/sdk"
)

// directEtcd returns a client of the etcd member embedded in agent a, the
// baseline of the primitives' benchmarks.
func directEtcd(b *testing.B, a *testcluster.Agent) *clientv3.Client {
	urls, err := os.ReadFile(filepath.Join(a.DataDir, "etcd-client-urls"))
	if err != nil {
		b.Fatal(err)
	}
	c, err := clientv3.New(clientv3.Config{Endpoints: strings.Split(strings.TrimSpace(string(urls)), ","), DialTimeout: 5 * time.Second})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	return c
}

// BenchmarkPrimitives times, one persistent client each, Nefele's Put, Get,
// CompareAndSwap and uncontended Lock+Unlock beside a direct etcd client
// doing the same against the same etcd (concurrency.Mutex for the lock),
// interleaved.
func BenchmarkPrimitives(b *testing.B) {
	a := testcluster.StartAgent(b)
	ctx := ctxB(b)
	kv := a.Client().KV()
	etcd := directEtcd(b, a)
	sess, err := concurrency.NewSession(etcd, concurrency.WithTTL(3))
	if err != nil {
		b.Fatal(err)
	}
	defer sess.Close()
	emu := concurrency.NewMutex(sess, "/bench/lock/")
	nmu := a.Client().Mutex("bench")
	value := []byte("0123456789abcdef")
	op := func(f func() error) timedOp { return func() (time.Duration, error) { return timed(f) } }
	b.ResetTimer()
	got := measure(b, warmups, latencySamples,
		op(func() error { _, err := kv.Put(ctx, "bench/k", value); return err }),
		op(func() error { _, err := etcd.Put(ctx, "/bench/k", string(value)); return err }),
		op(func() error { _, err := kv.Get(ctx, "bench/k"); return err }),
		op(func() error { _, err := etcd.Get(ctx, "/bench/k"); return err }),
		op(func() error {
			_, _, err := kv.CompareAndSwap(ctx, "bench/k", nefele.HasValue(value), value)
			return err
		}),
		op(func() error {
			_, err := etcd.Txn(ctx).If(clientv3.Compare(clientv3.Value("/bench/k"), "=", string(value))).
				Then(clientv3.OpPut("/bench/k", string(value))).Else(clientv3.OpGet("/bench/k")).Commit()
			return err
		}),
		op(func() error {
			if _, err := nmu.Lock(ctx); err != nil {
				return err
			}
			return nmu.Unlock(ctx)
		}),
		op(func() error {
			if err := emu.Lock(ctx); err != nil {
				return err
			}
			return emu.Unlock(ctx)
		}),
	)
	b.StopTimer()
	for i, name := range []string{"put", "get", "cas", "lock"} {
		nef, base := got[2*i], got[2*i+1]
		reportLatency(b, name, nef)
		reportLatency(b, name+"-etcd", base)
		b.ReportMetric(float64(nef.median())/float64(base.median()), name+"-x-etcd")
	}
	b.ReportMetric(0, "ns/op")
}

// handoffs runs clients that take turns on one lock, rounds times each,
// and returns the times from an Unlock call to the next holder's Lock
// returning.
func handoffs(clients, rounds int, lock func(i int) error, unlock func(i int) error) (latencies, error) {
	var mu sync.Mutex
	var lastUnlock time.Time
	var out latencies
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for i := range clients {
		wg.Go(func() {
			for range rounds {
				if err := lock(i); err != nil {
					errs <- err
					return
				}
				mu.Lock()
				if !lastUnlock.IsZero() {
					out = append(out, time.Since(lastUnlock))
				}
				lastUnlock = time.Now()
				mu.Unlock()
				if err := unlock(i); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	return out, <-errs
}

// BenchmarkLockHandoff has 4 clients take turns on one lock, 50 times each,
// and times each hand-over, from the Unlock call to the next holder's Lock
// returning; beside the same with etcd's concurrency.Mutex against the
// same etcd.
func BenchmarkLockHandoff(b *testing.B) {
	const clients, rounds = 4, 50
	a := testcluster.StartAgent(b)
	ctx := ctxB(b)
	etcd := directEtcd(b, a)
	nmus := make([]*nefele.Mutex, clients)
	emus := make([]*concurrency.Mutex, clients)
	for i := range clients {
		c, err := nefele.Dial(a.Addr)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { c.Close() })
		nmus[i] = c.Mutex("handoff")
		s, err := concurrency.NewSession(etcd, concurrency.WithTTL(3))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { s.Close() })
		emus[i] = concurrency.NewMutex(s, "/bench/handoff/")
	}
	b.ResetTimer()
	nef, err := handoffs(clients, rounds,
		func(i int) error { _, err := nmus[i].Lock(ctx); return err },
		func(i int) error { return nmus[i].Unlock(ctx) })
	if err != nil {
		b.Fatal(err)
	}
	base, err := handoffs(clients, rounds,
		func(i int) error { return emus[i].Lock(ctx) },
		func(i int) error { return emus[i].Unlock(ctx) })
	if err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	reportLatency(b, "handoff", nef)
	reportLatency(b, "handoff-etcd-mutex", base)
	b.ReportMetric(0, "ns/op")
}

// BenchmarkLockReleaseAfterSIGKILL: a managed process holds a lock and a
// client waits for it; the process is SIGKILLed; the time until the
// waiter's Lock returns, 10 times.
func BenchmarkLockReleaseAfterSIGKILL(b *testing.B) {
	a := testcluster.StartAgent(b)
	c := a.Client()
	ctx := ctxB(b)
	var lat latencies
	for range 10 {
		procs, err := c.Spawn(ctx, roleSpec("lock victim"), nefele.SpawnOptions{})
		if err != nil {
			b.Fatal(err)
		}
		p := procs[0]
		for !strings.Contains(logsOf(b, c, p.Gpid), "locked victim") {
			time.Sleep(10 * time.Millisecond)
		}
		waiter := c.Mutex("victim")
		got := make(chan time.Time, 1)
		go func() {
			if _, err := waiter.Lock(ctx); err == nil {
				got <- time.Now()
			}
		}()
		time.Sleep(200 * time.Millisecond) // the waiter is in line
		start := time.Now()
		syscall.Kill(int(p.Pid), syscall.SIGKILL)
		select {
		case t := <-got:
			lat = append(lat, t.Sub(start))
		case <-time.After(30 * time.Second):
			b.Fatal("lock not released 30s after its holder's SIGKILL")
		}
		waiter.Unlock(ctx)
	}
	reportLatency(b, "release", lat)
	b.ReportMetric(0, "ns/op")
}

// logsOf returns what process gpid wrote to stdout so far.
func logsOf(b *testing.B, c *nefele.Client, gpid string) string {
	var sb strings.Builder
	ctx, cancel := context.WithTimeout(ctxB(b), 5*time.Second)
	defer cancel()
	c.Logs(ctx, gpid, nefele.LogsOptions{}, &sb, io.Discard)
	return sb.String()
}

// BenchmarkElectionFailover: the leader of an election is a managed
// process on n3, a client on n2 waits as the next candidate, and a client
// on n1 observes. Each round SIGKILLs the leader, 5 times the process
// alone (its agent revokes its lease at once) and 3 times its node (the
// agent and the process: the lease lapses after its TTL), and times until
// the observer sees the new leader.
func BenchmarkElectionFailover(b *testing.B) {
	agents := testcluster.Start(b, 3)
	ctx := ctxB(b)
	c1, c2 := agents[0].Client(), agents[1].Client()
	round := func(crashNode bool) time.Duration {
		procs, err := c1.Spawn(ctx, &nefele.Spec{Command: roleSpec("campaign failover").Command, Env: roleSpec("campaign failover").Env, Node: "n3"}, nefele.SpawnOptions{})
		if err != nil {
			b.Fatal(err)
		}
		p := procs[0]
		for !strings.Contains(logsOf(b, c1, p.Gpid), "leading failover") {
			time.Sleep(10 * time.Millisecond)
		}
		next := c2.Election("failover")
		go next.Campaign(ctx, []byte("next"))
		leaders := make(chan string, 8)
		octx, cancel := context.WithCancel(ctx)
		defer cancel()
		go c1.Election("failover").Observe(octx, func(l *nefele.ElectionLeader) error {
			if l != nil {
				leaders <- string(l.Value)
			}
			return nil
		})
		for l := range leaders {
			if l != "next" {
				break
			}
		}
		time.Sleep(200 * time.Millisecond) // the next candidate is in line
		start := time.Now()
		if crashNode {
			agents[2].Kill()
		}
		syscall.Kill(int(p.Pid), syscall.SIGKILL)
		for l := range leaders {
			if l == "next" {
				break
			}
		}
		took := time.Since(start)
		next.Resign(ctx)
		if crashNode {
			agents[2].Restart()
		}
		return took
	}
	var proc, node latencies
	for range 5 {
		proc = append(proc, round(false))
	}
	for range 3 {
		node = append(node, round(true))
	}
	reportLatency(b, "process-kill", proc)
	reportLatency(b, "node-crash", node)
	b.ReportMetric(3000, "lease-ttl-ms")
	b.ReportMetric(0, "ns/op")
}
