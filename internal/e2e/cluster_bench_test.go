package e2e

import (
	"testing"
	"time"

	nefelev1 "github.com/nefele/nefele/api/nefele/v1"
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
