package e2e

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nefele/nefele/internal/testcluster"
	nefele "github.com/nefele/nefele/sdk"
)

// startExternalEtcd starts the etcd server of the machine (Debian's
// etcd-server package) on free loopback ports in a temporary dir and
// returns its client URL; the test skips when there is none.
func startExternalEtcd(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("etcd")
	if err != nil {
		t.Skip("needs an etcd server binary on PATH (Debian: apt-get install etcd-server); .ci/run installs it")
	}
	port := func() int {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		return l.Addr().(*net.TCPAddr).Port
	}
	client := fmt.Sprintf("http://127.0.0.1:%d", port())
	peer := fmt.Sprintf("http://127.0.0.1:%d", port())
	cmd := exec.Command(bin, "--name", "ext", "--data-dir", t.TempDir(),
		"--listen-client-urls", client, "--advertise-client-urls", client,
		"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
		"--initial-cluster", "ext="+peer)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var log testcluster.SyncBuffer
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatalf("start etcd: %v", err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("etcd log:\n%s", log.String())
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", strings.TrimPrefix(client, "http://"), time.Second)
		if err == nil {
			c.Close()
			return client
		}
		if time.Now().After(deadline) {
			t.Fatalf("etcd not listening at %s after 30s:\n%s", client, log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestExternalEtcd runs two agents on an existing etcd (--etcd-endpoints):
// they embed no member, see each other and each other's processes, and a
// server asking to join through one of them is told to use that etcd.
func TestExternalEtcd(t *testing.T) {
	url := startExternalEtcd(t)
	a := testcluster.StartNode(t, "--name", "x1", "--etcd-endpoints", url)
	b := testcluster.StartNode(t, "--name", "x2", "--etcd-endpoints", url)
	if _, err := os.Stat(a.DataDir + "/etcd"); err == nil {
		t.Fatal("an agent on an external etcd made an embedded member")
	}
	nodes, err := b.Client().Nodes(ctxT(t))
	if err != nil || len(nodes) != 2 {
		t.Fatalf("nodes: %v %v, want x1 and x2", nodes, err)
	}
	for _, n := range nodes {
		if n.State != "up" || n.Server {
			t.Fatalf("node %s: %s server=%v, want up and not an etcd member", n.Name, n.State, n.Server)
		}
	}
	p := spawn(t, a.Client(), nefele.SpawnOptions{Name: "ext"}, &nefele.Spec{Command: []string{"sleep", "600"}, Node: "x2"})[0]
	if p.Node != "x2" || p.State != running {
		t.Fatalf("spawn from x1 pinned to x2: %v on %s", p.State, p.Node)
	}
	if got := get(t, b.Client(), "ext"); got.Gpid != p.Gpid {
		t.Fatalf("x2 sees %v, want %s", got, p.Gpid)
	}
	c := testcluster.StartNode(t, "--name", "x3", "--server", "--join", b.Addr)
	if !strings.Contains(c.Log(), "external etcd") {
		t.Fatalf("a server joining a cluster on an external etcd does not say it joins as a client of it:\n%s", c.Log())
	}
	if got := get(t, c.Client(), "ext"); got.Gpid != p.Gpid {
		t.Fatalf("x3 sees %v, want %s", got, p.Gpid)
	}
	// x3 joined by --join, with no --etcd-endpoints of its own: it knows
	// the cluster's etcd is external too.
	d := testcluster.StartNode(t, "--name", "x4", "--server", "--join", c.Addr)
	if !strings.Contains(d.Log(), "external etcd") {
		t.Fatalf("a server joining through x3 is not told the etcd is external:\n%s", d.Log())
	}
}
