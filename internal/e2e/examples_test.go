package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	nefelev1 "github.com/nefele/nefele/api/nefele/v1"
	"github.com/nefele/nefele/internal/testcluster"
	nefele "github.com/nefele/nefele/sdk"
)

// TestExampleSingleton runs examples/singleton as a group of two on a
// cluster of three and crashes the leader's node (its agent and the
// leader): a replica on another node leads, with a newer term.
func TestExampleSingleton(t *testing.T) {
	bin := testcluster.Build(t, "./examples/singleton")
	agents := testcluster.Start(t, 3)
	ctx := ctxT(t)
	byName := map[string]*testcluster.Agent{"n1": agents[0], "n2": agents[1], "n3": agents[2]}
	spawn(t, agents[0].Client(), nefele.SpawnOptions{Name: "singleton", Replicas: 2}, &nefele.Spec{Command: []string{bin}})
	leader := func(c *nefele.Client) (node string, term int) {
		kv, err := c.KV().Get(ctx, "singleton/leader")
		if err == nil {
			fmt.Sscan(string(kv.Value), &node, &term)
		}
		return node, term
	}
	var first string
	var term1 int
	eventually(t, "a singleton leads", func() bool { first, term1 = leader(agents[0].Client()); return first != "" })
	var pid int32
	for _, p := range psAll(t, agents[0], false) {
		if p.Group == "singleton" && p.Node == first {
			pid = int32(p.PID)
		}
	}
	byName[first].Kill()
	killPid(int(pid))
	var live *testcluster.Agent
	for name, a := range byName {
		if name != first {
			live = a
		}
	}
	eventually(t, "a singleton on another node leads", func() bool {
		node, term := leader(live.Client())
		return node != "" && node != first && term > term1
	})
	time.Sleep(500 * time.Millisecond)
	if node, _ := leader(live.Client()); node == first {
		t.Fatalf("the dead node %s leads again", first)
	}
}

// TestExampleWorkqueue runs three examples/workqueue workers over 20 jobs:
// all meet at the barrier, and every job is done exactly once.
func TestExampleWorkqueue(t *testing.T) {
	bin := testcluster.Build(t, "./examples/workqueue")
	a := testcluster.StartAgent(t)
	c := a.Client()
	ctx := ctxT(t)
	for i := range 20 {
		if _, err := c.KV().Put(ctx, fmt.Sprintf("jobs/%02d", i), []byte("todo")); err != nil {
			t.Fatal(err)
		}
	}
	workers := spawn(t, c, nefele.SpawnOptions{Name: "workers", Replicas: 3},
		&nefele.Spec{Command: []string{bin, "3"}, Restart: nefelev1.RestartPolicy_RESTART_POLICY_NEVER})
	total := 0
	for _, w := range workers {
		if end := wait(t, c, w.Gpid); end.ExitCode != 0 {
			t.Fatalf("worker %s exited %d", w.Gpid, end.ExitCode)
		}
		out := logsOfT(t, c, w.Gpid)
		if !strings.Contains(out, "passed the barrier") {
			t.Fatalf("worker %s did not pass the barrier:\n%s", w.Gpid, out)
		}
		var n int
		fmt.Sscan(out[strings.LastIndex(out, "done ")+5:], &n)
		total += n
	}
	jobs, err := c.KV().List(ctx, "jobs/")
	if err != nil {
		t.Fatal(err)
	}
	for _, j := range jobs {
		if !strings.HasPrefix(string(j.Value), "done by p") {
			t.Fatalf("job %s: %q, want done", j.Key, j.Value)
		}
	}
	if total != 20 {
		t.Fatalf("the workers did %d jobs of 20", total)
	}
}

// TestExampleCounter runs examples/counter as a service on one node and
// calls it by name from another; once it ends, its name is free.
func TestExampleCounter(t *testing.T) {
	bin := testcluster.Build(t, "./examples/counter")
	agents := testcluster.Start(t, 2)
	c := agents[0].Client()
	svc := spawn(t, c, nefele.SpawnOptions{}, &nefele.Spec{Command: []string{bin, "serve", "counter"}, Node: "n2"})[0]
	waitLog(t, c, svc.Gpid, "serving counter")
	for i := 1; i <= 2; i++ {
		r := agents[0].CLI(nil, "exec", "--node", "n1", "--", bin, "call", "counter")
		if want := fmt.Sprintf("%d from %s on n2\n", i, svc.Gpid); r.Code != 0 || r.Stdout != want {
			t.Fatalf("call %d: code %d, out %q (want %q), err %q", i, r.Code, r.Stdout, want, r.Stderr)
		}
	}
	if _, err := c.Stop(ctxT(t), svc.Gpid, 0); err != nil {
		t.Fatal(err)
	}
	r := agents[0].CLI(nil, "exec", "--", bin, "call", "counter")
	if r.Code != 1 || !strings.Contains(r.Stderr, "no such name: counter") {
		t.Fatalf("call after the service ended: code %d, err %q", r.Code, r.Stderr)
	}
}

// logsOfT returns what process gpid wrote to stdout so far.
func logsOfT(t *testing.T, c *nefele.Client, gpid string) string {
	var sb strings.Builder
	c.Logs(ctxT(t), gpid, nefele.LogsOptions{}, &sb, &sb)
	return sb.String()
}
