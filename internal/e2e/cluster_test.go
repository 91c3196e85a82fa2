package e2e

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	nefelev1 "github.com/nefele/nefele/api/nefele/v1"
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
	// Any agent acts on a process wherever it runs.
	talker := spawn(t, worker.Client(), nefele.SpawnOptions{Name: "talker"}, sh(`echo hello from n4; trap 'echo bye; exit 0' TERM; while :; do sleep 0.05; done`))[0]
	waitLog(t, c1, talker.Gpid, "hello from n4")
	if _, err := c1.Signal(ctxT(t), "talker", "USR2"); err != nil {
		t.Fatalf("kill from n1 of a process on n4: %v", err)
	}
	end := wait(t, c1, "talker")
	if end.Signal != "USR2" {
		t.Fatalf("process on n4 after kill -s USR2 from n1: %v %q", end.State, end.Signal)
	}
	stopped, err := agents[1].Client().Stop(ctxT(t), p.Gpid, 0)
	if err != nil || stopped[0].State != exited {
		t.Fatalf("stop from n2 of a process on n4: %v %v", stopped, err)
	}
	if _, err := agents[2].Client().Restart(ctxT(t), p.Gpid); err != nil {
		t.Fatalf("restart from n3 of a process on n4: %v", err)
	}
	p = get(t, c1, p.Gpid)
	if p.State != running || p.Node != "n4" {
		t.Fatalf("after a restart from n3: %v on %s, want running on n4", p.State, p.Node)
	}

	// The agent that takes a request places it on any node.
	spread := spawn(t, c1, nefele.SpawnOptions{Name: "spread", Replicas: 3}, &nefele.Spec{Command: []string{"sleep", "600"}})
	onNodes := map[string]bool{}
	for _, q := range spread {
		if q.State != running || q.Pid == 0 {
			t.Fatalf("replica %s on %s: %v, want running", q.Gpid, q.Node, q.State)
		}
		onNodes[q.Node] = true
	}
	if len(onNodes) != 3 {
		t.Fatalf("3 replicas on nodes %v, want 3 different nodes", onNodes)
	}
	pinned := spawn(t, c1, nefele.SpawnOptions{}, &nefele.Spec{Command: []string{"sleep", "600"}, Node: "n3"})[0]
	if pinned.Node != "n3" || pinned.State != running || !alive(int(pinned.Pid)) {
		t.Fatalf("pinned to n3 from n1: %v on %s", pinned.State, pinned.Node)
	}
	if _, err := c1.Stop(ctxT(t), "spread", 0); err != nil {
		t.Fatalf("stop of a group across nodes: %v", err)
	}
	for _, q := range spread {
		if alive(int(q.Pid)) {
			t.Fatalf("replica %s (pid %d on %s) outlived stop", q.Gpid, q.Pid, q.Node)
		}
	}

	// exec from n1 of a process placed on another node behaves like a local child.
	r := agents[0].CLI(nil, "exec", "--node", "n4", "--", "sh", "-c", "echo on $NEFELE_NODE; echo err >&2; exit 3")
	if r.Code != 3 || r.Stdout != "on n4\n" || r.Stderr != "err\n" {
		t.Fatalf("exec --node n4 from n1: code %d out %q err %q", r.Code, r.Stdout, r.Stderr)
	}
	r = agents[0].CLI(strings.NewReader("piped\n"), "exec", "-i", "--node", "n2", "--", "sh", "-c", "cat; echo $NEFELE_NODE")
	if r.Code != 0 || r.Stdout != "piped\nn2\n" {
		t.Fatalf("exec -i --node n2 from n1: code %d out %q err %q", r.Code, r.Stdout, r.Stderr)
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
	// Until the reconciler marks it lost (at once, in most runs), the
	// process is on a node that is down; then it is not running.
	_, err = c1.Signal(ctxT(t), p.Gpid, "TERM")
	downErr := errors.Is(err, nefele.ErrUnavailable) && strings.Contains(err.Error(), "node n4 is down")
	lostErr := errors.Is(err, nefele.ErrNotRunning) && strings.Contains(err.Error(), "state lost")
	if !downErr && !lostErr {
		t.Fatalf("kill of a process on a node that is down: %v, want unavailable naming n4, or not running (lost)", err)
	}
	worker.Restart()
	got := get(t, worker.Client(), p.Gpid)
	if got.State != running || got.Pid != p.Pid {
		t.Fatalf("after the worker's restart: %v, want %s adopted with pid %d", got, p.Gpid, p.Pid)
	}
	if n := len(withGPIDAny(p.Gpid, "n4")); n != 1 {
		t.Fatalf("%d processes are %s on n4, want 1", n, p.Gpid)
	}
}

// TestUp runs `nefele up --nodes 3` as a user would, reads its table, checks
// the cluster through the first agent, then stops it with SIGINT.
func TestUp(t *testing.T) {
	base := freePorts(t, 3)
	dataDir := t.TempDir()
	cmd := exec.Command(testcluster.Binary(t), "up", "--nodes", "3", "--base-port", strconv.Itoa(base), "--data-dir", dataDir)
	var out, errb testcluster.SyncBuffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var waitErr error
	done := make(chan struct{})
	go func() { waitErr = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-done
		killByArg(dataDir) // agents of an up that was killed
	})
	eventually(t, "up prints its table", func() bool { return strings.Contains(errb.String(), "cluster up: 3 agents") })
	if !strings.Contains(out.String(), "n3") || strings.Count(out.String(), "server") != 3 {
		t.Fatalf("up's table:\n%s", out.String())
	}
	addr := "127.0.0.1:" + strconv.Itoa(base)
	r := testcluster.RunCLI(t, addr, nil, "nodes", "-o", "json")
	var nodes []map[string]any
	if err := json.Unmarshal([]byte(r.Stdout), &nodes); err != nil || len(nodes) != 3 {
		t.Fatalf("nodes through n1: %v %q", err, r.Stdout)
	}
	pids := []int{}
	n3 := 0
	for _, n := range nodes {
		pids = append(pids, int(n["pid"].(float64)))
		if n["name"] == "n3" {
			n3 = int(n["pid"].(float64))
		}
	}
	// An agent that dies is reported and the others go on; what it left
	// running goes when up stops.
	if r := testcluster.RunCLI(t, addr, nil, "run", "--name", "orphan", "--node", "n3", "--", "sleep", "600"); r.Code != 0 {
		t.Fatalf("run --node n3: %s", r.Stderr)
	}
	orphan := get(t, nefeleClient(t, addr), "orphan")
	syscall.Kill(n3, syscall.SIGKILL)
	eventually(t, "up reports n3's death", func() bool { return strings.Contains(errb.String(), "up: n3 exited") })
	select {
	case <-done:
		t.Fatalf("up ended when one agent died:\n%s", errb.String())
	default:
	}
	if r := testcluster.RunCLI(t, addr, nil, "ps"); r.Code != 0 {
		t.Fatalf("ps with n3 dead: %s", r.Stderr)
	}
	cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-done:
		if waitErr != nil {
			t.Fatalf("up after SIGINT: %v\n%s", waitErr, errb.String())
		}
	case <-time.After(90 * time.Second):
		t.Fatal("up did not stop within 90s of SIGINT")
	}
	for _, pid := range pids {
		if alive(pid) {
			t.Fatalf("agent %d outlived up", pid)
		}
	}
	if alive(int(orphan.Pid)) {
		t.Fatalf("the process n3's agent left (pid %d) outlived up", orphan.Pid)
	}
}

func nefeleClient(t *testing.T, addr string) *nefele.Client {
	t.Helper()
	c, err := nefele.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// freePorts returns the first of n consecutive free loopback ports.
func freePorts(t *testing.T, n int) int {
	t.Helper()
	for base := 20000 + os.Getpid()%10000; base < 60000; base += n {
		ok := true
		for p := base; p < base+n && ok; p++ {
			l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
			if err != nil {
				ok = false
				continue
			}
			l.Close()
		}
		if ok {
			return base
		}
	}
	t.Fatal("no free ports")
	return 0
}

// killByArg SIGKILLs the processes that have an argument under dir.
func killByArg(dir string) {
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		cmdline, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err == nil && strings.Contains(string(cmdline), "\x00"+dir+"/") {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// TestNodeCrashReplacesItsProcesses SIGKILLs the agent of a node: its
// processes are marked lost and replaced on live nodes within seconds, and
// when the node comes back, the copies that kept running there are fenced.
func TestNodeCrashReplacesItsProcesses(t *testing.T) {
	agents := testcluster.Start(t, 4)
	c1 := agents[0].Client()
	keep := spawn(t, c1, nefele.SpawnOptions{Name: "keep"}, &nefele.Spec{Command: []string{"sleep", "600"}, Node: "n4",
		Restart: nefelev1.RestartPolicy_RESTART_POLICY_ALWAYS})[0]
	once := spawn(t, c1, nefele.SpawnOptions{}, &nefele.Spec{Command: []string{"sleep", "600"}, Node: "n4"})[0]
	agents[3].Kill()
	var repl *nefele.Process
	eventually(t, "the process of n4 is replaced on a live node and runs", func() bool {
		procs, err := c1.Get(ctxT(t), "keep")
		if err != nil || len(procs) != 1 || procs[0].Gpid == keep.Gpid || procs[0].State != running {
			return false
		}
		repl = procs[0]
		return true
	})
	if repl.Node == "n4" || !alive(int(repl.Pid)) {
		t.Fatalf("replacement %s on %s (pid %d), want running on a live node", repl.Gpid, repl.Node, repl.Pid)
	}
	if lost := get(t, c1, keep.Gpid); lost.State != nefelev1.State_STATE_LOST || !strings.Contains(lost.Reason, "replaced by "+repl.Gpid) {
		t.Fatalf("the original: %v %q, want lost and replaced by %s", lost.State, lost.Reason, repl.Gpid)
	}
	if o := get(t, c1, once.Gpid); o.State != nefelev1.State_STATE_LOST {
		t.Fatalf("a never-restart process of the dead node: %v, want lost (and not replaced)", o.State)
	}
	if !alive(int(keep.Pid)) {
		t.Fatal("the original died with its agent; the test needs it running to check fencing")
	}
	agents[3].Restart()
	eventually(t, "the returning node fences the replaced copy", func() bool { return !alive(int(keep.Pid)) })
	if !alive(int(repl.Pid)) {
		t.Fatal("the replacement died when the node came back")
	}
	// A lost process that was not replaced is its node's again.
	if o := get(t, c1, once.Gpid); o.State != running || o.Pid != once.Pid || !alive(int(once.Pid)) {
		t.Fatalf("the unreplaced process after its node came back: %v pid %d, want running again as pid %d", o.State, o.Pid, once.Pid)
	}
}

// TestAtMostFiveVoters starts six agents that all ask to be servers: the
// first five become etcd members, the sixth joins as a worker and says why.
func TestAtMostFiveVoters(t *testing.T) {
	first := testcluster.StartNode(t, "--name", "v1")
	var last *testcluster.Agent
	for i := 2; i <= 6; i++ {
		last = testcluster.StartNode(t, "--name", fmt.Sprintf("v%d", i), "--server", "--join", first.Addr)
	}
	if !strings.Contains(last.Log(), "joining as a worker") || !strings.Contains(last.Log(), "5 voting members") {
		t.Fatalf("the sixth server does not say it joins as a worker because 5 vote:\n%s", last.Log())
	}
	nodes, err := last.Client().Nodes(ctxT(t))
	if err != nil || len(nodes) != 6 {
		t.Fatalf("nodes: %v %v, want 6", nodes, err)
	}
	for _, n := range nodes {
		if want := n.Name != "v6"; n.Server != want || n.State != "up" {
			t.Fatalf("node %s: server %v, %s; want server %v, up", n.Name, n.Server, n.State, want)
		}
	}
}
