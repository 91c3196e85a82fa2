package e2e

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nefele/nefele/internal/testcluster"
)

// startLabeled starts a cluster of three servers n1 (zone=us), n2 and n3
// (zone=eu, 2 CPUs, 1Gi each).
func startLabeled(t *testing.T) []*testcluster.Agent {
	t.Helper()
	n1 := testcluster.StartNode(t, "--name", "n1", "--labels", "zone=us")
	n2 := testcluster.StartNode(t, "--name", "n2", "--join", n1.Addr, "--server", "--labels", "zone=eu", "--cpu", "2", "--memory", "1Gi")
	n3 := testcluster.StartNode(t, "--name", "n3", "--join", n1.Addr, "--server", "--labels", "zone=eu", "--cpu", "2", "--memory", "1Gi")
	return []*testcluster.Agent{n1, n2, n3}
}

// members returns the live members of group by replica index, from ps.
func members(t *testing.T, a *testcluster.Agent, group string) map[int]psRecord {
	t.Helper()
	out := map[int]psRecord{}
	for _, p := range psAll(t, a, false) {
		if p.Group == group {
			if prev, dup := out[p.Replica]; dup {
				t.Fatalf("group %s has two live members with replica %d: %s and %s", group, p.Replica, prev.GPID, p.GPID)
			}
			out[p.Replica] = p
		}
	}
	return out
}

// psRecord is the part of a `ps -o json` record the cluster tests read.
type psRecord struct {
	GPID    string `json:"gpid"`
	Group   string `json:"group"`
	Replica int    `json:"replica"`
	Node    string `json:"node"`
	State   string `json:"state"`
	PID     int    `json:"pid"`
}

func psAll(t *testing.T, a *testcluster.Agent, all bool) []psRecord {
	t.Helper()
	args := []string{"ps", "-o", "json"}
	if all {
		args = append(args, "-a")
	}
	r := a.CLI(nil, args...)
	if r.Code != 0 {
		t.Fatalf("nefele ps: code %d: %s", r.Code, r.Stderr)
	}
	var out []psRecord
	if err := json.Unmarshal([]byte(r.Stdout), &out); err != nil {
		t.Fatalf("ps -o json: %v\n%s", err, r.Stdout)
	}
	return out
}

// settled reports whether group has exactly n live members, all running,
// with replica indexes 0..n-1.
func settled(ms map[int]psRecord, n int) bool {
	if len(ms) != n {
		return false
	}
	for i := range n {
		if p, ok := ms[i]; !ok || p.State != "running" {
			return false
		}
	}
	return true
}

func nodesOf(ms map[int]psRecord) []string {
	var out []string
	for _, p := range ms {
		out = append(out, p.Node)
	}
	sort.Strings(out)
	return out
}

// TestGroups drives groups through the CLI on a cluster of three: placement
// across nodes with its refusal message, scale up and down, drain and
// undrain, and a reconciler that moves to another agent when its leader
// dies.
func TestGroups(t *testing.T) {
	agents := startLabeled(t)
	n1, n2, n3 := agents[0], agents[1], agents[2]

	t.Run("nothing fits: each node says why", func(t *testing.T) {
		r := n1.CLI(nil, "run", "--constraint", "zone=eu", "--memory", "2Gi", "--", "true")
		want := "no node fits: node n1: constraint zone=eu not met; node n2: memory 1Gi free, 2Gi asked; node n3: memory 1Gi free, 2Gi asked"
		if r.Code != 1 || !strings.Contains(r.Stderr, want) {
			t.Fatalf("run beyond every node: code %d, stderr %q, want %q", r.Code, r.Stderr, want)
		}
	})

	t.Run("capacity is never oversold", func(t *testing.T) {
		// Two agents place at once a process that only n2 or n3 can take,
		// each asking all of a node's CPUs: two fit, the third is refused.
		var wg sync.WaitGroup
		results := make([]testcluster.Result, 3)
		for i, a := range agents {
			wg.Go(func() {
				results[i] = a.CLI(nil, "run", "--constraint", "zone=eu", "--cpu", "2", "--", "sleep", "600")
			})
		}
		wg.Wait()
		ok, refused := 0, 0
		for _, r := range results {
			switch {
			case r.Code == 0:
				ok++
			case strings.Contains(r.Stderr, "cpu 0 free, 2 asked"):
				refused++
			default:
				t.Errorf("run: code %d, stderr %q", r.Code, r.Stderr)
			}
		}
		if ok != 2 || refused != 1 {
			t.Fatalf("3 runs asking 2 CPUs of two 2-CPU nodes: %d started, %d refused; want 2 and 1", ok, refused)
		}
		onNodes := map[string]int{}
		for _, p := range psAll(t, n1, false) {
			onNodes[p.Node]++
		}
		if onNodes["n2"] != 1 || onNodes["n3"] != 1 {
			t.Fatalf("processes by node: %v, want one on n2 and one on n3", onNodes)
		}
		for _, p := range psAll(t, n1, false) {
			n1.CLI(nil, "stop", p.GPID)
		}
	})

	t.Run("scale up and down", func(t *testing.T) {
		if r := n2.CLI(nil, "run", "--name", "web", "--replicas", "3", "--", "sleep", "600"); r.Code != 0 {
			t.Fatalf("run --replicas 3: code %d: %s", r.Code, r.Stderr)
		}
		ms := members(t, n1, "web")
		if !settled(ms, 3) || strings.Join(nodesOf(ms), ",") != "n1,n2,n3" {
			t.Fatalf("3 replicas: %v, want one running on each node", ms)
		}
		r := n3.CLI(nil, "scale", "web", "5")
		if r.Code != 0 || strings.Count(r.Stdout, "running") != 5 {
			t.Fatalf("scale web 5: code %d\n%s%s", r.Code, r.Stdout, r.Stderr)
		}
		ms = members(t, n1, "web")
		if !settled(ms, 5) {
			t.Fatalf("after scale 5: %v, want replicas 0-4 running", ms)
		}
		perNode := map[string]int{}
		for _, p := range ms {
			perNode[p.Node]++
		}
		for node, c := range perNode {
			if c > 2 {
				t.Fatalf("5 replicas by node: %v (node %s has %d), want them spread", perNode, node, c)
			}
		}
		newest := []psRecord{ms[3], ms[4]}
		if r := n1.CLI(nil, "scale", "web", "3"); r.Code != 0 {
			t.Fatalf("scale web 3: code %d: %s", r.Code, r.Stderr)
		}
		if ms = members(t, n1, "web"); !settled(ms, 3) {
			t.Fatalf("after scale 3: %v, want replicas 0-2 running", ms)
		}
		for _, p := range newest {
			if alive(p.PID) {
				t.Fatalf("scale down left the newest member %s (pid %d) running", p.GPID, p.PID)
			}
		}
		if r := n1.CLI(nil, "scale", "web", "0"); r.Code != 0 || len(members(t, n1, "web")) != 0 {
			t.Fatalf("scale web 0: code %d: %s; members %v", r.Code, r.Stderr, members(t, n1, "web"))
		}
		if r := n1.CLI(nil, "scale", "web", "2"); r.Code != 0 || !settled(members(t, n1, "web"), 2) {
			t.Fatalf("scale web 2 from 0: code %d: %s", r.Code, r.Stderr)
		}
	})

	t.Run("scale errors", func(t *testing.T) {
		n1.CLI(nil, "run", "--name", "lone", "--", "sleep", "600")
		for _, tc := range []struct {
			args []string
			want string
		}{
			{[]string{"scale", "lone", "2"}, "lone is a lone process, not a group"},
			{[]string{"scale", "nosuch", "2"}, "no such process: nosuch"},
			{[]string{"scale", "web", "many"}, "invalid count"},
			{[]string{"scale", "web"}, "want GROUP and a count"},
			{[]string{"drain", "n9"}, "no such node: n9"},
		} {
			r := n1.CLI(nil, tc.args...)
			if r.Code == 0 || !strings.Contains(r.Stderr, tc.want) {
				t.Errorf("nefele %s: code %d, stderr %q, want an error with %q", strings.Join(tc.args, " "), r.Code, r.Stderr, tc.want)
			}
		}
	})

	t.Run("drain and undrain", func(t *testing.T) {
		if r := n1.CLI(nil, "scale", "web", "3"); r.Code != 0 {
			t.Fatalf("scale web 3: %s", r.Stderr)
		}
		before := members(t, n1, "web")
		var onN2 []psRecord
		for _, p := range before {
			if p.Node == "n2" {
				onN2 = append(onN2, p)
			}
		}
		if len(onN2) == 0 {
			t.Fatalf("no member on n2 to drain: %v", before)
		}
		r := n1.CLI(nil, "drain", "n2")
		if r.Code != 0 || !strings.Contains(r.Stdout, "node n2 drained: no processes left on it") {
			t.Fatalf("drain n2: code %d\n%s%s", r.Code, r.Stdout, r.Stderr)
		}
		ms := members(t, n1, "web")
		if !settled(ms, 3) {
			t.Fatalf("after drain: %v, want 3 running", ms)
		}
		for _, p := range ms {
			if p.Node == "n2" {
				t.Fatalf("member %s still on drained n2", p.GPID)
			}
		}
		for _, p := range onN2 {
			if alive(p.PID) {
				t.Fatalf("drained member %s (pid %d) still runs", p.GPID, p.PID)
			}
		}
		if r := n1.CLI(nil, "nodes"); !strings.Contains(r.Stdout, "drained") {
			t.Fatalf("nodes after drain does not say drained:\n%s", r.Stdout)
		}
		r = n3.CLI(nil, "run", "--node", "n2", "--", "true")
		if r.Code != 1 || !strings.Contains(r.Stderr, "node n2: unschedulable (drained)") {
			t.Fatalf("run --node n2 on a drained node: code %d, stderr %q", r.Code, r.Stderr)
		}
		if r := n1.CLI(nil, "undrain", "n2"); r.Code != 0 {
			t.Fatalf("undrain n2: %s", r.Stderr)
		}
		if r := n3.CLI(nil, "run", "--node", "n2", "--", "true"); r.Code != 0 {
			t.Fatalf("run --node n2 after undrain: code %d: %s", r.Code, r.Stderr)
		}
		// What no other node can take stays, and drain says so at once
		// rather than after its minute.
		if r := n1.CLI(nil, "run", "--name", "us-only", "--constraint", "zone=us", "--restart", "always", "--", "sleep", "600"); r.Code != 0 {
			t.Fatalf("run --constraint zone=us: %s", r.Stderr)
		}
		start := time.Now()
		r = n2.CLI(nil, "drain", "n1")
		if r.Code != 0 || !strings.Contains(r.Stdout, "but 1 still on it") || !strings.Contains(r.Stdout, "us-only") {
			t.Fatalf("drain n1 with a process only n1 takes: code %d\n%s%s", r.Code, r.Stdout, r.Stderr)
		}
		if took := time.Since(start); took > 30*time.Second {
			t.Fatalf("drain with a process nowhere else to go took %s: it waited out its minute", took)
		}
		if ms := members(t, n1, "web"); !settled(ms, 3) || strings.Contains(strings.Join(nodesOf(ms), ","), "n1") {
			t.Fatalf("web after drain n1: %v, want 3 running off n1", ms)
		}
		if r := n1.CLI(nil, "undrain", "n1"); r.Code != 0 {
			t.Fatalf("undrain n1: %s", r.Stderr)
		}
		n1.CLI(nil, "stop", "us-only")
	})

	t.Run("the reconciler moves when its leader dies", func(t *testing.T) {
		var leader *testcluster.Agent
		eventually(t, "an agent leads the reconciler", func() bool {
			for _, a := range agents {
				if strings.Contains(a.Log(), "leading the reconciler") {
					leader = a
					return true
				}
			}
			return false
		})
		leader.Kill()
		dead := nodeOf(leader, agents)
		var others []*testcluster.Agent
		for _, a := range agents {
			if a != leader {
				others = append(others, a)
			}
		}
		eventually(t, "another agent leads and the group runs 3 on live nodes", func() bool {
			ms := members(t, others[0], "web")
			if !settled(ms, 3) {
				return false
			}
			for _, p := range ms {
				if p.Node == dead {
					return false
				}
			}
			return true
		})
		r := others[1].CLI(nil, "scale", "web", "4")
		if ms := members(t, others[0], "web"); r.Code != 0 || !settled(ms, 4) {
			t.Fatalf("scale web 4 with the first leader dead: code %d %s; members %v", r.Code, r.Stderr, ms)
		}
		leads := 0
		for _, a := range others {
			if strings.Contains(a.Log(), "leading the reconciler") {
				leads++
			}
		}
		if leads != 1 {
			t.Fatalf("%d of the live agents lead the reconciler, want 1", leads)
		}
	})
}

// nodeOf returns the node name of agent a, n1 … n3 in order.
func nodeOf(a *testcluster.Agent, agents []*testcluster.Agent) string {
	for i, b := range agents {
		if a == b {
			return fmt.Sprintf("n%d", i+1)
		}
	}
	return ""
}
