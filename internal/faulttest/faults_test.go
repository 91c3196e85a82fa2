package faulttest

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// replicas is the size of the group each test runs: one per node.
const replicas = 3

// TestNodeCrash crashes the host of the agent that leads the reconciler,
// the agent and its processes with it, as a machine would crash: the other
// two elect a new leader, find the node down and bring the group back to
// its count on themselves, each replica once.
func TestNodeCrash(t *testing.T) {
	t.Parallel()
	c := startCluster(t)
	c.run(1, "g", replicas)
	dead := c.leader()
	live := 1 + dead%3 // another host, to ask from
	c.net.Crash(dead)
	eventually(t, 30*time.Second, "g back at 3 on the live nodes", func() error {
		procs, err := c.ps(live, live)
		if err != nil {
			return err
		}
		return whole(running(procs, "g"), replicas, node(dead))
	})
	nodes, err := c.nodes(live, live)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		want := "up"
		if n.Name == node(dead) {
			want = "down"
		}
		if n.State != want {
			t.Errorf("node %s is %s, want %s", n.Name, n.State, want)
		}
	}
}

// TestPartitionSelfFencing cuts one node off (not the reconciler's
// leader). The majority brings the group back to its count on its two
// nodes; the cut-off node, unable to renew its lease, stops its copy by
// itself before the partition heals (self-fencing, after --fence-grace).
// After the heal, exactly the group's count runs in the whole cluster.
func TestPartitionSelfFencing(t *testing.T) {
	t.Parallel()
	c := startCluster(t)
	before := c.run(1, "g", replicas)
	cut := 1 + c.leader()%3
	major := 1 + cut%3 // a host on the majority side, to ask from
	var cutCopies []proc
	for _, p := range before {
		if p.Node == node(cut) {
			cutCopies = append(cutCopies, p)
		}
	}
	if len(cutCopies) == 0 {
		t.Fatalf("no replica of g on %s to fence: %v", node(cut), before)
	}

	c.net.Partition(cut)
	eventually(t, 30*time.Second, "g back at 3 on the majority's nodes", func() error {
		procs, err := c.ps(major, major)
		if err == nil {
			err = whole(running(procs, "g"), replicas, node(cut))
		}
		return err
	})
	// By now the lease has expired and the majority replaced the copies;
	// the cut-off node stops them --fence-grace (1 s) after its lease ran out.
	err := poll(10*time.Second, func() error {
		for _, p := range cutCopies {
			if alive(p.PID) {
				return fmt.Errorf("%s (pid %d) still runs on %s", p.GPID, p.PID, node(cut))
			}
		}
		return nil
	})
	if err != nil {
		t.Errorf("self-fencing: %s, cut off and replaced, did not stop its copy within 10s: %v", node(cut), err)
	}

	c.net.Heal(cut)
	// Both sides must agree; the healed node may answer "leader changed"
	// for a moment while its etcd member catches up.
	err = poll(20*time.Second, func() error {
		if err := c.exactly("g", replicas, major); err != nil {
			return err
		}
		if err := c.exactly("g", replicas, cut); err != nil {
			return fmt.Errorf("asked of the healed %s: %w", node(cut), err)
		}
		return nil
	})
	if err != nil {
		t.Errorf("20s after the heal, not exactly 3 copies of g in the cluster: %v", err)
	}
	if err := poll(10*time.Second, func() error { return c.allUp(major) }); err != nil {
		t.Errorf("10s after the heal: %v", err)
	}
}

// allUp checks, asking the agent in host from, that every node is up.
func (c *cluster) allUp(from int) error {
	nodes, err := c.nodes(from, from)
	for _, n := range nodes {
		if n.State != "up" && err == nil {
			err = fmt.Errorf("node %s is %s", n.Name, n.State)
		}
	}
	return err
}

// exactly checks, asking the agent in host from, that group is whole, and
// that no host runs a copy of it that ps does not list.
func (c *cluster) exactly(group string, n, from int) error {
	procs, err := c.ps(from, from)
	if err != nil {
		return err
	}
	members := running(procs, group)
	if err := whole(members, n); err != nil {
		return err
	}
	for i := 1; i <= 3; i++ {
		var listed []int
		for _, p := range members {
			if p.Node == node(i) {
				listed = append(listed, p.PID)
			}
		}
		slices.Sort(listed)
		if got := c.groupPids(i); !slices.Equal(got, listed) {
			return fmt.Errorf("host %d runs %v, ps lists %v there", i, got, listed)
		}
	}
	return nil
}

// TestDelayAndLoss slows every host by 50 ms each way, then adds 15% loss
// on one: the cluster keeps working (run, ps, kill, with the retries a user
// would make), and no node is taken for down under the delay alone.
func TestDelayAndLoss(t *testing.T) {
	t.Parallel()
	c := startCluster(t)
	for i := 1; i <= 3; i++ {
		c.net.Delay(i, 50*time.Millisecond)
	}
	stopWatch, watched := c.watchNodes(), time.Now()
	c.useGroup(1, 2, "slow")
	time.Sleep(4*time.Second - time.Since(watched)) // more than the lease TTL: a false down would show
	if down := stopWatch(); len(down) > 0 {
		t.Errorf("under 50 ms delay alone: %s", strings.Join(down, "; "))
	}

	c.net.Loss(2, 15)
	c.useGroup(1, 2, "lossy")
	c.useGroup(3, 3, "lossy2")
}

// useGroup runs a group from host from through the agent in host to, lists
// it and kills it, retrying each step as a user would.
func (c *cluster) useGroup(from, to int, group string) {
	c.t.Helper()
	retry(c.t, "run "+group, func() error {
		r := c.cli(from, to, "run", "--name", group, "--replicas", "3", "--", "sleep", "1000")
		if r.Code != 0 && !strings.Contains(r.Stderr, "is in use by") { // an earlier try made it
			return fmt.Errorf("exit %d: %s", r.Code, r.Stderr)
		}
		return nil
	})
	retry(c.t, "ps shows "+group, func() error {
		procs, err := c.ps(from, to)
		if err == nil {
			err = whole(running(procs, group), 3)
		}
		return err
	})
	retry(c.t, "kill "+group, func() error {
		r := c.cli(from, to, "kill", group)
		if r.Code != 0 {
			return fmt.Errorf("exit %d: %s", r.Code, r.Stderr)
		}
		return nil
	})
}

// retry runs f until it succeeds, up to 5 times in 30 s.
func retry(t *testing.T, what string, f func() error) {
	t.Helper()
	var err error
	deadline := time.Now().Add(30 * time.Second)
	for try := 1; try <= 5 && time.Now().Before(deadline); try++ {
		if err = f(); err == nil {
			return
		}
		t.Logf("%s, try %d: %v", what, try, err)
		time.Sleep(time.Second)
	}
	t.Fatalf("%s: %v", what, err)
}

// watchNodes asks host 1's agent for the nodes every 250 ms until the
// returned function is called, which returns every sighting of a node not
// up, and every failure to ask.
func (c *cluster) watchNodes() (stop func() []string) {
	done, result := make(chan struct{}), make(chan []string)
	go func() {
		var down []string
		for {
			select {
			case <-done:
				result <- down
				return
			case <-time.After(250 * time.Millisecond):
			}
			nodes, err := c.nodes(1, 1)
			if err != nil {
				down = append(down, err.Error()+" at "+time.Now().Format("15:04:05.000"))
			}
			for _, n := range nodes {
				if n.State != "up" {
					down = append(down, n.Name+" "+n.State+" at "+time.Now().Format("15:04:05.000"))
				}
			}
		}
	}()
	return func() []string { close(done); return <-result }
}
