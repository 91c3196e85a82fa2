package e2e

// The benchmarks of the performance figures in docs/BENCHMARKS.md. Each one
// measures Nefele beside a baseline taken in the same run, on the same
// machine, and reports both and their ratio with b.ReportMetric.
//
// Each benchmark does a fixed amount of work (a fixed number of samples, or
// 1,000 processes), whatever b.N is: a percentile needs a fixed, large enough
// sample, and starting an agent per b.N round would be wasted. The built-in
// ns/op is suppressed because it means nothing here. Run each once per
// count (docs/BENCHMARKS.md has the command behind its figures):
//
//	go test ./internal/e2e -run '^$' -bench . -benchtime 1x -count 5

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nefele/nefele/internal/testcluster"
	nefele "github.com/nefele/nefele/sdk"
)

const (
	// latencySamples is how many times each latency benchmark runs its
	// operation and its baseline, interleaved.
	latencySamples = 300
	// warmups run first and are not counted: connections, page cache.
	warmups = 10
	// cliSamples is how many times each whole-process command runs.
	cliSamples = 30
	// throughputTotal processes run from throughputWorkers goroutines.
	throughputTotal   = 1000
	throughputWorkers = 8
	// memoryProcs long-running processes are spawned to measure memory.
	memoryProcs = 1000
)

var trueSpec = &nefele.Spec{Command: []string{"/bin/true"}}

func ctxB(b *testing.B) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	b.Cleanup(cancel)
	return ctx
}

// latencies are the durations of repeated runs of one operation.
type latencies []time.Duration

// quantile returns the q-quantile (0 < q ≤ 1) by the nearest-rank method.
func (l latencies) quantile(q float64) time.Duration {
	s := slices.Clone(l)
	slices.Sort(s)
	i := int(math.Ceil(float64(len(s))*q)) - 1
	return s[min(max(i, 0), len(s)-1)]
}

func (l latencies) median() time.Duration { return l.quantile(0.5) }

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// timedOp runs one sample and returns how long the part that counts took;
// it may do untimed work before or after (waiting for the process to end).
type timedOp func() (time.Duration, error)

// timed returns how long f took.
func timed(f func() error) (time.Duration, error) {
	start := time.Now()
	err := f()
	return time.Since(start), err
}

// measure runs the ops in turn, warmup rounds first and then n counted
// rounds, and returns the durations of each op. Interleaving them makes the
// baseline see the same machine conditions as the thing measured.
func measure(b *testing.B, warmup, n int, ops ...timedOp) []latencies {
	b.Helper()
	out := make([]latencies, len(ops))
	for round := range warmup + n {
		if round == warmup {
			b.ResetTimer()
		}
		for i, op := range ops {
			d, err := op()
			if err != nil {
				b.Fatalf("sample %d of op %d: %v", round, i, err)
			}
			if round >= warmup {
				out[i] = append(out[i], d)
			}
		}
	}
	b.StopTimer()
	return out
}

// reportLatency reports the median and p99 of l as name-median-ms and name-p99-ms.
func reportLatency(b *testing.B, name string, l latencies) {
	b.ReportMetric(ms(l.median()), name+"-median-ms")
	b.ReportMetric(ms(l.quantile(0.99)), name+"-p99-ms")
}

// reportVsForkExec reports nefele's and plain fork/exec's latencies and the
// ratio of their medians as x-forkexec.
func reportVsForkExec(b *testing.B, nef, base latencies) {
	reportLatency(b, "nefele", nef)
	reportLatency(b, "forkexec", base)
	b.ReportMetric(float64(nef.median())/float64(base.median()), "x-forkexec")
	b.ReportMetric(0, "ns/op")
}

// forkExecTrue is the baseline: fork, exec and wait for /bin/true.
func forkExecTrue() error { return exec.Command("/bin/true").Run() }

func timedForkExec() (time.Duration, error) { return timed(forkExecTrue) }

// BenchmarkSpawnLatency times Spawn of /bin/true through one persistent
// client, until it returns (the process runs). Each spawned process is then
// waited for, untimed, so that its exit is not handled during the next sample.
// It also reports rpc-median-ms, a Version call (no store, no process): the
// floor any API call pays.
func BenchmarkSpawnLatency(b *testing.B) {
	a := testcluster.StartAgent(b)
	c, ctx := a.Client(), ctxB(b)
	spawn := func() (time.Duration, error) {
		var gpid string
		d, err := timed(func() error {
			procs, err := c.Spawn(ctx, trueSpec, nefele.SpawnOptions{})
			if err == nil {
				gpid = procs[0].Gpid
			}
			return err
		})
		if err != nil {
			return d, err
		}
		_, err = c.Wait(ctx, gpid)
		return d, err
	}
	version := func() (time.Duration, error) {
		return timed(func() error { _, err := c.Version(ctx); return err })
	}
	got := measure(b, warmups, latencySamples, spawn, timedForkExec, version)
	reportVsForkExec(b, got[0], got[1])
	b.ReportMetric(ms(got[2].median()), "rpc-median-ms")
}

// BenchmarkExecLatency times the round trip of Exec of /bin/true through
// one persistent client: from the call until Wait returns its exit status.
func BenchmarkExecLatency(b *testing.B) {
	a := testcluster.StartAgent(b)
	c, ctx := a.Client(), ctxB(b)
	execTrue := func() (time.Duration, error) { return timed(func() error { return execWait(ctx, c) }) }
	got := measure(b, warmups, latencySamples, execTrue, timedForkExec)
	reportVsForkExec(b, got[0], got[1])
}

// execWait runs /bin/true attached and waits for its exit status.
func execWait(ctx context.Context, c *nefele.Client) error {
	s, err := c.Exec(ctx, trueSpec, nefele.ExecOptions{})
	if err != nil {
		return err
	}
	st, err := s.Wait()
	if err == nil && st.Status != 0 {
		err = fmt.Errorf("/bin/true ended with status %d", st.Status)
	}
	return err
}

// runShared runs total operations from workers goroutines, each taking the
// next one until none is left, and returns how long all of them took.
// op(w, i) runs operation i (0 ≤ i < total) as worker w.
func runShared(workers, total int, op func(w, i int) error) (time.Duration, error) {
	var next atomic.Int64
	errs := make([]error, workers)
	var wg sync.WaitGroup
	start := time.Now()
	for w := range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= total {
					return
				}
				if err := op(w, i); err != nil {
					errs[w] = err
					return
				}
			}
		})
	}
	wg.Wait()
	return time.Since(start), errors.Join(errs...)
}

// dialWorkers returns one client per worker, each dialed on its own and
// warmed by one untimed Exec, so that connection setup is not timed.
func dialWorkers(b *testing.B, ctx context.Context, a *testcluster.Agent, n int) []*nefele.Client {
	b.Helper()
	clients := make([]*nefele.Client, n)
	for i := range clients {
		c, err := nefele.Dial(a.Addr)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { c.Close() })
		if err := execWait(ctx, c); err != nil {
			b.Fatalf("warm-up exec: %v", err)
		}
		clients[i] = c
	}
	return clients
}

// BenchmarkThroughput runs 1,000 /bin/true processes to completion from 8
// concurrent clients, each its own connection. A process counts once Exec
// has started it and Wait has returned its exit status, so the rate is of
// processes run to completion, not merely started. The baseline runs 1,000
// plain fork/exec/waits of /bin/true from 8 goroutines.
func BenchmarkThroughput(b *testing.B) {
	a := testcluster.StartAgent(b)
	ctx := ctxB(b)
	clients := dialWorkers(b, ctx, a, throughputWorkers)
	b.ResetTimer()
	base, err := runShared(throughputWorkers, throughputTotal, func(_, _ int) error { return forkExecTrue() })
	if err != nil {
		b.Fatal(err)
	}
	nef, err := runShared(throughputWorkers, throughputTotal, func(w, _ int) error { return execWait(ctx, clients[w]) })
	if err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	reportThroughput(b, throughputTotal, nef, base)
}

// reportThroughput reports the rates of n processes run by nefele in nef
// and by fork/exec in base, and their ratio.
func reportThroughput(b *testing.B, n int, nef, base time.Duration) {
	nefRate, baseRate := float64(n)/nef.Seconds(), float64(n)/base.Seconds()
	b.ReportMetric(nefRate, "nefele-procs/s")
	b.ReportMetric(baseRate, "forkexec-procs/s")
	b.ReportMetric(nefRate/baseRate, "x-forkexec")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkCLIExec times `nefele exec -- /bin/true` as a whole process from
// a shell's point of view, beside /bin/true run the same way and beside the
// start cost of the nefele binary itself (`nefele version --help`, which
// does not contact the agent), interleaved.
func BenchmarkCLIExec(b *testing.B) {
	a := testcluster.StartAgent(b)
	bin := testcluster.Binary(b)
	env := append(os.Environ(), nefele.EnvAddr+"="+a.Addr)
	run := func(args ...string) timedOp {
		return func() (time.Duration, error) {
			cmd := exec.Command(args[0], args[1:]...)
			cmd.Env = env
			return timed(cmd.Run)
		}
	}
	got := measure(b, 3, cliSamples,
		run(bin, "exec", "--", "/bin/true"), run("/bin/true"), run(bin, "version", "--help"))
	cli, base, start := got[0], got[1], got[2]
	reportLatency(b, "cli-exec", cli)
	reportLatency(b, "true", base)
	reportLatency(b, "cli-start", start)
	b.ReportMetric(float64(cli.median())/float64(base.median()), "x-true")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkAgentMemory reports the agent's resident memory when idle and
// its growth per process once 1,000 `sleep 3600` run. The agent's heap
// cannot be collected from outside, so RSS is read after a settle, twice.
func BenchmarkAgentMemory(b *testing.B) {
	a := testcluster.StartAgent(b)
	ctx := ctxB(b)
	clients := dialWorkers(b, ctx, a, throughputWorkers)
	time.Sleep(2 * time.Second) // let start-up garbage settle
	idle := readStatusKiB(b, a.PID(), "VmRSS")
	b.ResetTimer()
	gpids := make([]string, memoryProcs)
	took, err := runShared(throughputWorkers, memoryProcs, func(w, i int) error {
		procs, err := clients[w].Spawn(ctx, &nefele.Spec{Command: []string{"/bin/sleep", "3600"}}, nefele.SpawnOptions{})
		if err != nil {
			return err
		}
		if procs[0].State != running {
			return fmt.Errorf("%s is %v after spawn, want running", procs[0].Gpid, procs[0].State)
		}
		gpids[i] = procs[0].Gpid
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	time.Sleep(2 * time.Second)
	loaded := readStatusKiB(b, a.PID(), "VmRSS")
	time.Sleep(5 * time.Second)
	settled := readStatusKiB(b, a.PID(), "VmRSS")
	b.Logf("spawned %d sleeps in %v; agent threads %d, fds %d, VmHWM %d KiB",
		memoryProcs, took, readStatusKiB(b, a.PID(), "Threads"), countFDs(a.PID()), readStatusKiB(b, a.PID(), "VmHWM"))
	b.ReportMetric(float64(idle), "idle-rss-KiB")
	b.ReportMetric(float64(loaded-idle)/memoryProcs, "KiB/proc-at-2s")
	b.ReportMetric(float64(settled-idle)/memoryProcs, "KiB/proc-at-7s")
	b.ReportMetric(0, "ns/op")
	stopAll(b, ctx, clients, gpids)
}

// stopAll stops the processes from all clients in parallel.
func stopAll(b *testing.B, ctx context.Context, clients []*nefele.Client, gpids []string) {
	b.Helper()
	_, err := runShared(len(clients), len(gpids), func(w, i int) error {
		_, err := clients[w].Stop(ctx, gpids[i], 0)
		return err
	})
	if err != nil {
		b.Fatalf("stop: %v", err)
	}
}

// readStatusKiB returns the number of field (VmRSS, Threads) in
// /proc/pid/status; memory fields are in KiB.
func readStatusKiB(b *testing.B, pid int, field string) int64 {
	b.Helper()
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		b.Fatal(err)
	}
	for line := range strings.Lines(string(data)) {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			n, err := strconv.ParseInt(strings.Fields(v)[0], 10, 64)
			if err != nil {
				b.Fatalf("%s in /proc/%d/status: %v", field, pid, err)
			}
			return n
		}
	}
	b.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}

func countFDs(pid int) int {
	entries, _ := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/fd")
	return len(entries)
}
