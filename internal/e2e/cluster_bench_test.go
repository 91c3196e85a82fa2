package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	nefelev1 "github.com/nefele/nefele/api/nefele/v1"
	"github.com/nefele/nefele/internal/store"
	"github.com/nefele/nefele/internal/testcluster"
	nefele "github.com/nefele/nefele/sdk"
)

// BenchmarkNodeCrashToReplacement SIGKILLs the agent of a worker node 5
// times, each time with a restart-always process pinned to it, and measures
// the time from the SIGKILL until the process's replacement runs on a live
// node, beside the node lease's TTL (3 s). Like the other benchmarks it does
// a fixed amount of work: run it with -benchtime 1x.
func BenchmarkNodeCrashToReplacement(b *testing.B) {
	const crashes = 5
	agents := testcluster.Start(b, 4)
	c1 := agents[0].Client()
	worker := agents[3]
	var lat latencies
	for i := range crashes {
		name := "victim" + string(rune('a'+i))
		spawn := func() {
			if _, err := c1.Spawn(ctxB(b), &nefele.Spec{Command: []string{"sleep", "600"}, Node: "n4",
				Restart: nefelev1.RestartPolicy_RESTART_POLICY_ALWAYS}, nefele.SpawnOptions{Name: name}); err != nil {
				b.Fatal(err)
			}
		}
		spawn()
		start := time.Now()
		worker.Kill()
		for {
			procs, err := c1.Get(ctxB(b), name)
			if err == nil && len(procs) == 1 && procs[0].Node != "n4" && procs[0].State == nefelev1.State_STATE_RUNNING {
				break
			}
			if time.Since(start) > 60*time.Second {
				b.Fatalf("no replacement of %s after 60 s", name)
			}
			time.Sleep(10 * time.Millisecond)
		}
		lat = append(lat, time.Since(start))
		worker.Restart()
	}
	b.ReportMetric(ms(lat.median()), "median-ms")
	b.ReportMetric(ms(lat.quantile(1)), "max-ms")
	b.ReportMetric(3000, "lease-ttl-ms")
	b.ReportMetric(float64(lat.median())/float64(3*time.Second), "x-ttl")
}

// clusterProcs is how many processes the cluster benchmarks run across
// three agents.
const clusterProcs = 3000

// clusterClients dials perAgent warmed-up clients to each agent.
func clusterClients(b *testing.B, ctx context.Context, agents []*testcluster.Agent, perAgent int) []*nefele.Client {
	var clients []*nefele.Client
	for _, a := range agents {
		clients = append(clients, dialWorkers(b, ctx, a, perAgent)...)
	}
	return clients
}

// BenchmarkClusterThroughput spawns 3,000 /bin/true across a cluster of
// three agents (three clients per agent, each process placed on the node
// whose agent took the request) and waits for each to end, beside nine
// goroutines doing fork/exec/wait of /bin/true in the same run. All three
// agents share this machine's CPUs with the baseline.
func BenchmarkClusterThroughput(b *testing.B) {
	agents := testcluster.Start(b, 3)
	ctx := ctxB(b)
	clients := clusterClients(b, ctx, agents, 3)
	b.ResetTimer()
	base, err := runShared(len(clients), clusterProcs, func(_, _ int) error { return forkExecTrue() })
	if err != nil {
		b.Fatal(err)
	}
	nef, err := runShared(len(clients), clusterProcs, func(w, _ int) error {
		procs, err := clients[w].Spawn(ctx, trueSpec, nefele.SpawnOptions{})
		if err != nil {
			return err
		}
		_, err = clients[w].Wait(ctx, procs[0].Gpid)
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	reportThroughput(b, clusterProcs, nef, base)
}

// BenchmarkPsLatency times List (what `nefele ps` asks) with 3,000 live
// processes in the table, 1,000 on each of three agents, beside a direct
// etcd client of the same cluster reading and decoding the same records
// (internal/store's List, no agent, no API), interleaved; and `nefele ps`
// as a whole process, table output included.
func BenchmarkPsLatency(b *testing.B) {
	agents := testcluster.Start(b, 3)
	ctx := ctxB(b)
	clients := clusterClients(b, ctx, agents, 3)
	sleep := &nefele.Spec{Command: []string{"/bin/sleep", "3600"}}
	if _, err := runShared(len(clients), clusterProcs, func(w, _ int) error {
		_, err := clients[w].Spawn(ctx, sleep, nefele.SpawnOptions{})
		return err
	}); err != nil {
		b.Fatal(err)
	}
	urls, err := os.ReadFile(filepath.Join(agents[0].DataDir, "etcd-client-urls"))
	if err != nil {
		b.Fatal(err)
	}
	etcd, err := clientv3.New(clientv3.Config{Endpoints: strings.Split(strings.TrimSpace(string(urls)), ","), DialTimeout: 5 * time.Second})
	if err != nil {
		b.Fatal(err)
	}
	defer etcd.Close()
	direct := store.New(etcd)
	list := func(n int) error {
		if n != clusterProcs {
			return fmt.Errorf("listed %d processes, want %d", n, clusterProcs)
		}
		return nil
	}
	bin := testcluster.Binary(b)
	b.ResetTimer()
	got := measure(b, 3, 30,
		func() (time.Duration, error) {
			return timed(func() error {
				procs, err := clients[0].List(ctx, false)
				if err != nil {
					return err
				}
				return list(len(procs))
			})
		},
		func() (time.Duration, error) {
			return timed(func() error {
				procs, err := direct.List(ctx, false)
				if err != nil {
					return err
				}
				return list(len(procs))
			})
		},
		func() (time.Duration, error) {
			cmd := exec.Command(bin, "ps")
			cmd.Env = append(os.Environ(), nefele.EnvAddr+"="+agents[1].Addr)
			return timed(cmd.Run)
		})
	b.StopTimer()
	reportLatency(b, "list", got[0])
	reportLatency(b, "etcd", got[1])
	reportLatency(b, "cli-ps", got[2])
	b.ReportMetric(float64(got[0].median())/float64(got[1].median()), "x-etcd")
	b.ReportMetric(0, "ns/op")
}
