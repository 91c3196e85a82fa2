package e2e

import (
	"testing"

	"github.com/nefele/nefele/internal/testcluster"
	nefele "github.com/nefele/nefele/sdk"
)

// TestClusterOneProcessTable joins four agents (three etcd members and a
// worker) and checks that every agent sees every node and every process, that
// a node whose agent dies is shown down, and that it comes back with its
// processes adopted.
func TestClusterOneProcessTable(t *testing.T) {
	agents := testcluster.Start(t, 4)
	c1 := agents[0].Client()
	nodes, err := c1.Nodes(ctxT(t))
	if err != nil || len(nodes) != 4 {
		t.Fatalf("nodes: %v %v, want 4", nodes, err)
	}
	for _, n := range nodes {
		wantServer := n.Name != "n4"
		if n.State != "up" || n.Server != wantServer {
			t.Fatalf("node %s: state %s server %v, want up and server %v", n.Name, n.State, n.Server, wantServer)
		}
	}
	worker := agents[3]
	p := spawn(t, worker.Client(), nefele.SpawnOptions{Name: "remote"}, &nefele.Spec{Command: []string{"sleep", "600"}})[0]
	if p.Node != "n4" {
		t.Fatalf("spawned on %s, want n4 (the agent that took the request)", p.Node)
	}
	for _, a := range agents[:3] {
		got := get(t, a.Client(), "remote")
		if got.Gpid != p.Gpid || got.Node != "n4" || got.State != running {
			t.Fatalf("agent %s sees %v, want %s running on n4", a.Addr, got, p.Gpid)
		}
	}
	worker.Kill()
	eventually(t, "n4 is shown down", func() bool {
		nodes, err := c1.Nodes(ctxT(t))
		if err != nil {
			return false
		}
		for _, n := range nodes {
			if n.Name == "n4" {
				return n.State == "down"
			}
		}
		return false
	})
	worker.Restart()
	got := get(t, worker.Client(), p.Gpid)
	if got.State != running || got.Pid != p.Pid {
		t.Fatalf("after the worker's restart: %v, want %s adopted with pid %d", got, p.Gpid, p.Pid)
	}
	if n := len(withGPIDAny(p.Gpid, "n4")); n != 1 {
		t.Fatalf("%d processes are %s on n4, want 1", n, p.Gpid)
	}
}
