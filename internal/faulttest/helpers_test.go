package faulttest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nefele/nefele/internal/netsim"
	"github.com/nefele/nefele/internal/testcluster"
)

func TestMain(m *testing.M) {
	netsim.Init()
	// The tests spend their time waiting for leases to run out, not on a
	// CPU: run all of them at once, even where -parallel defaults to 2
	// (GOMAXPROCS). A -parallel on the command line still wins.
	flag.Set("test.parallel", "3")
	testcluster.Main(m)
}

// port is where every agent listens, on its own host's address.
const port = "7070"

// cluster is three agents, n1 … n3, each a server and each in the host of
// its number.
type cluster struct {
	t      *testing.T
	net    *netsim.Net
	agents []*testcluster.Agent // agents[i-1] is n<i>, in host i
}

// startCluster starts n1 in host 1 and has n2 and n3 join it as servers,
// with extraArgs for every agent. At the end of the test the hosts crash,
// as machines losing power would: three graceful stops take seconds (the
// last agent waits for a quorum that has gone) and test nothing here.
func startCluster(t *testing.T, extraArgs ...string) *cluster {
	t.Helper()
	c := &cluster{t: t, net: netsim.New(t, 3)}
	for i := 1; i <= 3; i++ {
		args := append([]string{"--name", node(i)}, extraArgs...)
		if i > 1 {
			args = append(args, "--server", "--join", c.addr(1))
		}
		opts := testcluster.Options{Wrap: c.net.Wrap(i), Addr: c.addr(i)}
		c.agents = append(c.agents, testcluster.StartNodeWith(t, opts, args...))
	}
	t.Cleanup(func() {
		for i := 1; i <= 3; i++ {
			c.net.Crash(i)
		}
	})
	return c
}

// node is the name of the node in host i.
func node(i int) string { return "n" + strconv.Itoa(i) }

// addr is the API address of the agent in host i.
func (c *cluster) addr(i int) string { return c.net.Addr(i) + ":" + port }

// cli runs nefele args in host from, against the agent in host to, as a
// user on node from would. It fails the test only when the CLI cannot run.
func (c *cluster) cli(from, to int, args ...string) testcluster.Result {
	c.t.Helper()
	r, err := c.try(from, to, args...)
	if err != nil {
		c.t.Fatal(err)
	}
	return r
}

// try is cli for any goroutine: it returns the error instead.
func (c *cluster) try(from, to int, args ...string) (testcluster.Result, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := c.net.CommandContext(ctx, from, testcluster.Binary(c.t), args...)
	cmd.Env = append(os.Environ(), "NEFELE_ADDR="+c.addr(to))
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ee := (*exec.ExitError)(nil); err != nil && !errors.As(err, &ee) {
		return testcluster.Result{}, fmt.Errorf("nefele %s: %w", strings.Join(args, " "), err)
	}
	return testcluster.Result{Stdout: out.String(), Stderr: errb.String(), Code: cmd.ProcessState.ExitCode()}, nil
}

// proc is a record of `nefele ps -o json`, as far as these tests care.
type proc struct {
	GPID    string `json:"gpid"`
	Group   string `json:"group"`
	Replica int    `json:"replica"`
	Node    string `json:"node"`
	State   string `json:"state"`
	PID     int    `json:"pid"`
}

// ps lists the live processes, asked from host from of the agent in host
// to. Any goroutine may call it.
func (c *cluster) ps(from, to int) ([]proc, error) {
	r, err := c.try(from, to, "ps", "-o", "json")
	if err != nil {
		return nil, err
	}
	if r.Code != 0 {
		return nil, fmt.Errorf("ps: exit %d: %s", r.Code, r.Stderr)
	}
	var procs []proc
	if err := json.Unmarshal([]byte(r.Stdout), &procs); err != nil {
		return nil, fmt.Errorf("ps -o json: %v: %q", err, r.Stdout)
	}
	return procs, nil
}

// nodeState is a record of `nefele nodes -o json`.
type nodeState struct {
	Name  string `json:"name"`
	State string `json:"state"`
}

// nodes lists the nodes, asked from host from of the agent in host to.
// Any goroutine may call it.
func (c *cluster) nodes(from, to int) ([]nodeState, error) {
	r, err := c.try(from, to, "nodes", "-o", "json")
	if err != nil {
		return nil, err
	}
	if r.Code != 0 {
		return nil, fmt.Errorf("nodes: exit %d: %s", r.Code, r.Stderr)
	}
	var nodes []nodeState
	if err := json.Unmarshal([]byte(r.Stdout), &nodes); err != nil {
		return nil, fmt.Errorf("nodes -o json: %v: %q", err, r.Stdout)
	}
	return nodes, nil
}

// run starts a group of n replicas of `sleep 1000` named group, through the
// agent in host i, and returns its running members.
func (c *cluster) run(i int, group string, n int) []proc {
	c.t.Helper()
	r := c.cli(i, i, "run", "--name", group, "--replicas", strconv.Itoa(n), "--", "sleep", "1000")
	if r.Code != 0 {
		c.t.Fatalf("run %s: exit %d: %s", group, r.Code, r.Stderr)
	}
	var members []proc
	eventually(c.t, 30*time.Second, group+" runs", func() error {
		procs, err := c.ps(i, i)
		members = running(procs, group)
		if err == nil && len(members) != n {
			err = fmt.Errorf("%d running, want %d: %v", len(members), n, members)
		}
		return err
	})
	return members
}

// running returns the running members of group among procs.
func running(procs []proc, group string) []proc {
	var out []proc
	for _, p := range procs {
		if p.Group == group && p.State == "running" {
			out = append(out, p)
		}
	}
	return out
}

// whole checks that members are n running processes, each replica index
// from 0 to n-1 once, none on a node of avoid.
func whole(members []proc, n int, avoid ...string) error {
	seen := map[int]string{}
	for _, p := range members {
		if slices.Contains(avoid, p.Node) {
			return fmt.Errorf("%s (replica %d) runs on %s", p.GPID, p.Replica, p.Node)
		}
		if other, dup := seen[p.Replica]; dup {
			return fmt.Errorf("replica %d runs twice: %s and %s", p.Replica, other, p.GPID)
		}
		seen[p.Replica] = p.GPID
	}
	for r := range n {
		if _, ok := seen[r]; !ok {
			return fmt.Errorf("replica %d does not run: %v", r, members)
		}
	}
	if len(members) != n {
		return fmt.Errorf("%d running, want %d: %v", len(members), n, members)
	}
	return nil
}

// leader returns the host whose agent leads the reconciler, once exactly
// one says so.
func (c *cluster) leader() int {
	c.t.Helper()
	var lead int
	eventually(c.t, 30*time.Second, "one agent leads the reconciler", func() error {
		lead = 0
		for i, a := range c.agents {
			if strings.Contains(a.Log(), "leading the reconciler") {
				if lead != 0 {
					return fmt.Errorf("n%d and n%d both say they lead", lead, i+1)
				}
				lead = i + 1
			}
		}
		if lead == 0 {
			return errors.New("none does yet")
		}
		return nil
	})
	return lead
}

// groupPids returns the processes of host i that run `sleep 1000`, the
// command of every group of these tests, whether ps lists them or not.
func (c *cluster) groupPids(i int) []int {
	var out []int
	for _, pid := range c.net.Pids(i) {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
		if err == nil && string(b) == "sleep\x001000\x00" && alive(pid) {
			out = append(out, pid)
		}
	}
	slices.Sort(out)
	return out
}

// alive reports whether pid exists and is not a zombie.
func alive(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	i := bytes.LastIndexByte(b, ')')
	return err == nil && i > 0 && len(b) > i+2 && b[i+2] != 'Z'
}

// eventually polls cond until it returns nil, and fails the test with
// cond's last error when timeout passes first.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() error) {
	t.Helper()
	if err := poll(timeout, cond); err != nil {
		t.Fatalf("after %v, still not %s: %v", timeout, what, err)
	}
}

// poll calls cond every 100 ms until it returns nil or timeout passes,
// and returns its last error.
func poll(timeout time.Duration, cond func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}
