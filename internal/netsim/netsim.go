package netsim

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// netnsDir is where `ip netns` keeps the names of namespaces.
const netnsDir = "/run/netns"

// seq numbers the Nets of this process, for unique names and subnets.
var seq atomic.Int32

// Net is a network of hosts numbered 1 … n on one bridge. Its methods may be
// called from several goroutines while the test runs; those that change the
// network (Partition, Heal, Loss, Delay, Reset, Crash) fail the test when
// they cannot, so call them from the test's goroutine.
type Net struct {
	t      testing.TB
	n      int
	prefix string // of namespace names: prefix+"sw", prefix+"h1", …
	subnet string // the first three octets, like "198.18.7"

	mu     sync.Mutex // guards cut, loss and delays
	cut    map[int]bool
	loss   map[int]float64
	delays map[int]*delay
}

// New builds a switch and n hosts (1 ≤ n ≤ 250) and registers their removal
// with t.Cleanup. It skips the test when it is not root or when ip, nft or
// iptables are missing, and fails it when the namespaces cannot be built.
func New(t testing.TB, n int) *Net {
	t.Helper()
	if !initCalled.Load() {
		t.Fatal("netsim: call netsim.Init or netsim.Main from TestMain; the harness re-executes the test binary")
	}
	if n < 1 || n > 250 {
		t.Fatalf("netsim: %d hosts, want 1 to 250", n)
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root: netsim creates network namespaces")
	}
	for _, tool := range []string{"ip", "nft", "iptables"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("netsim needs %s (on Debian: apt-get install iproute2 nftables iptables): %v", tool, err)
		}
	}
	id := int(seq.Add(1))
	k := (os.Getpid() + id) % 512
	net := &Net{
		t: t, n: n,
		prefix: fmt.Sprintf("netsim-%d-%d-", os.Getpid(), id),
		subnet: fmt.Sprintf("198.%d.%d", 18+k/256, k%256),
		cut:    map[int]bool{}, loss: map[int]float64{}, delays: map[int]*delay{},
	}
	removeStale()
	t.Cleanup(net.cleanup)
	if err := net.build(); err != nil {
		if errors.Is(err, syscall.EPERM) {
			t.Skipf("needs root with CAP_SYS_ADMIN and CAP_NET_ADMIN: %v", err)
		}
		t.Fatalf("netsim: %v", err)
	}
	return net
}

// Addr returns the IP address of host i, like "198.18.7.2".
func (n *Net) Addr(i int) string {
	n.check(i)
	return n.subnet + "." + strconv.Itoa(i)
}

// Namespace returns the name of host i's network namespace, as `ip netns`
// lists it: `ip netns exec NAME sh` gives a shell in the host while the test
// runs.
func (n *Net) Namespace(i int) string {
	n.check(i)
	return n.prefix + "h" + strconv.Itoa(i)
}

// Wrap returns the command line prefix that runs a command in host i: the
// test binary, re-executed, enters the host's network namespace and execs
// what follows, so the command keeps the pid it was started with. Unlike
// `ip netns exec`, it leaves the mounts alone (/sys/fs/cgroup stays).
func (n *Net) Wrap(i int) []string {
	return []string{self(), helperFlag + "exec", n.path(n.Namespace(i)), "--"}
}

// Command is exec.Command for a program run in host i (see Wrap). The
// returned Cmd is the caller's to configure (Env, Stdin, SysProcAttr, …).
func (n *Net) Command(i int, name string, args ...string) *exec.Cmd {
	return n.CommandContext(context.Background(), i, name, args...)
}

// CommandContext is exec.CommandContext for a program run in host i.
func (n *Net) CommandContext(ctx context.Context, i int, name string, args ...string) *exec.Cmd {
	w := n.Wrap(i)
	return exec.CommandContext(ctx, w[0], append(append(w[1:], name), args...)...)
}

// Pids returns the processes whose network namespace is host i's.
func (n *Net) Pids(i int) []int {
	return pidsIn(n.path(n.Namespace(i)))
}

// Crash SIGKILLs every process in host i, as a crash of the machine would
// end them, and returns once they are gone. The host's network stays up,
// so peers see refused connections rather than silence (Partition gives
// silence). The delay queue of the host, which lives outside it, stays.
func (n *Net) Crash(i int) {
	n.t.Helper()
	if err := killAll(n.path(n.Namespace(i))); err != nil {
		n.t.Fatalf("netsim: crash host %d: %v", i, err)
	}
}

func (n *Net) check(i int) {
	if i < 1 || i > n.n {
		panic(fmt.Sprintf("netsim: host %d of a net of %d (hosts are numbered from 1)", i, n.n))
	}
}

func (n *Net) path(ns string) string { return filepath.Join(netnsDir, ns) }

func (n *Net) sw() string { return n.prefix + "sw" }

// build makes the switch, its bridge and the hosts, and waits for every
// link to be up.
func (n *Net) build() error {
	sw := n.sw()
	if err := ip("netns", "add", sw); err != nil {
		return err
	}
	steps := [][]string{
		{"-n", sw, "link", "set", "lo", "up"},
		{"-n", sw, "link", "add", "br0", "type", "bridge"},
		{"-n", sw, "link", "set", "br0", "up"},
	}
	for _, s := range steps {
		if err := ip(s...); err != nil {
			return err
		}
	}
	for i := 1; i <= n.n; i++ {
		if err := n.addHost(i); err != nil {
			return err
		}
	}
	if err := n.apply(); err != nil {
		return err
	}
	for i := 1; i <= n.n; i++ {
		if err := waitUp(sw, "vh"+strconv.Itoa(i)); err != nil {
			return err
		}
	}
	return nil
}

// addHost makes host i with eth0 on the bridge.
func (n *Net) addHost(i int) error {
	h, sw, vh := n.Namespace(i), n.sw(), "vh"+strconv.Itoa(i)
	if err := ip("netns", "add", h); err != nil {
		return err
	}
	steps := [][]string{
		{"-n", sw, "link", "add", vh, "type", "veth", "peer", "name", "eth0", "netns", h},
		{"-n", sw, "link", "set", vh, "master", "br0", "up"},
		{"-n", h, "link", "set", "lo", "up"},
		{"-n", h, "addr", "add", n.Addr(i) + "/24", "dev", "eth0"},
		{"-n", h, "link", "set", "eth0", "up"},
	}
	for _, s := range steps {
		if err := ip(s...); err != nil {
			return err
		}
	}
	return nil
}

// cleanup ends the delay queues, kills every process in the hosts and
// deletes the namespaces, which takes their nftables and iptables rules.
func (n *Net) cleanup() {
	n.mu.Lock()
	for i, d := range n.delays {
		d.stop(false)
		delete(n.delays, i)
	}
	n.mu.Unlock()
	for _, ns := range n.namespaces() {
		p := n.path(ns)
		if _, err := os.Stat(p); err != nil {
			continue // never made
		}
		if err := killAll(p); err != nil {
			n.t.Errorf("netsim cleanup: %s: %v", ns, err)
		}
		if err := ip("netns", "del", ns); err != nil {
			n.t.Errorf("netsim cleanup: %v", err)
		}
	}
}

// namespaces lists the names of the hosts and of the switch.
func (n *Net) namespaces() []string {
	out := []string{}
	for i := 1; i <= n.n; i++ {
		out = append(out, n.Namespace(i))
	}
	return append(out, n.sw())
}

// ip runs ip(8) with args.
func ip(args ...string) error {
	return run(exec.Command("ip", args...))
}

// run runs cmd and returns an error that shows its output when it fails.
func run(cmd *exec.Cmd) error {
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(out.String())
		if strings.Contains(msg, "Operation not permitted") {
			err = fmt.Errorf("%w (%w)", err, syscall.EPERM)
		}
		return fmt.Errorf("%s: %w: %s", strings.Join(cmd.Args, " "), err, msg)
	}
	return nil
}

// waitUp waits for link dev of namespace ns to be up.
func waitUp(ns, dev string) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		out, err := exec.Command("ip", "-n", ns, "-o", "link", "show", dev).Output()
		if err == nil && bytes.Contains(out, []byte("state UP")) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("link %s of %s not up after 10s: %s %v", dev, ns, out, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
