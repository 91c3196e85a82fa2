package netsim_test

import (
	"bufio"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nefele/nefele/internal/netsim"
)

func TestMain(m *testing.M) { netsim.Main(m) }

// echo serves a TCP echo on port 7000 of host i and returns its address.
func echo(t *testing.T, n *netsim.Net, i int) string {
	t.Helper()
	addr := net.JoinHostPort(n.Addr(i), "7000")
	l, err := n.Listen(i, "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(c, c); c.Close() }()
		}
	}()
	return addr
}

// dial connects from host i to addr.
func dial(t *testing.T, n *netsim.Net, i int, addr string) net.Conn {
	t.Helper()
	c, err := n.DialTimeout(i, "tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatalf("dial %s from host %d: %v", addr, i, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// roundTrip sends a line on c and waits up to timeout for its echo; it
// returns how long that took.
func roundTrip(c net.Conn, timeout time.Duration) (time.Duration, error) {
	c.SetDeadline(time.Now().Add(timeout))
	start := time.Now()
	if _, err := io.WriteString(c, "ping\n"); err != nil {
		return 0, err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err == nil && line != "ping\n" {
		err = errors.New("echo: " + line)
	}
	return time.Since(start), err
}

// minRTT is the least of five round trips on c.
func minRTT(t *testing.T, c net.Conn) time.Duration {
	t.Helper()
	least := time.Hour
	for range 5 {
		d, err := roundTrip(c, 30*time.Second)
		if err != nil {
			t.Fatalf("round trip: %v", err)
		}
		least = min(least, d)
	}
	return least
}

func TestHostsReachEachOther(t *testing.T) {
	n := netsim.New(t, 3)
	addr := echo(t, n, 2)
	for _, i := range []int{1, 3} {
		if _, err := roundTrip(dial(t, n, i, addr), 10*time.Second); err != nil {
			t.Fatalf("host %d to host 2: %v", i, err)
		}
	}
	out, err := n.Command(3, "ip", "-4", "-o", "addr", "show", "dev", "eth0").CombinedOutput()
	if err != nil || !strings.Contains(string(out), n.Addr(3)+"/24") {
		t.Fatalf("ip addr in host 3: %v %s, want %s", err, out, n.Addr(3))
	}
}

func TestCommandAndCrash(t *testing.T) {
	n := netsim.New(t, 2)
	cmd := n.Command(2, "sleep", "100")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	// The helper execs sleep in place: the pid is sleep's, in host 2.
	eventually(t, "sleep runs in host 2", func() bool {
		exe, _ := os.Readlink("/proc/" + itoa(cmd.Process.Pid) + "/exe")
		return filepath.Base(exe) == "sleep" && slices.Contains(n.Pids(2), cmd.Process.Pid)
	})
	if slices.Contains(n.Pids(1), cmd.Process.Pid) {
		t.Fatal("host 1 lists the process of host 2")
	}
	n.Crash(2)
	if err := <-done; err == nil || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("sleep after Crash: %v, want killed", err)
	}
	if pids := n.Pids(2); len(pids) != 0 {
		t.Fatalf("host 2 after Crash: %v", pids)
	}
}

func TestPartitionAndHeal(t *testing.T) {
	n := netsim.New(t, 3)
	to2, to3 := echo(t, n, 2), echo(t, n, 3)
	c := dial(t, n, 1, to2)
	n.Partition(2)
	if _, err := roundTrip(c, 500*time.Millisecond); !isTimeout(err) {
		t.Fatalf("host 1 to host 2 while 2 is cut off: %v, want a timeout", err)
	}
	if _, err := n.DialTimeout(3, "tcp", to2, 500*time.Millisecond); !isTimeout(err) {
		t.Fatalf("new connection from host 3 to host 2 while 2 is cut off: %v, want a timeout (silence, not refusal)", err)
	}
	if _, err := roundTrip(dial(t, n, 1, to3), 10*time.Second); err != nil {
		t.Fatalf("host 1 to host 3 while 2 is cut off: %v", err)
	}
	n.Heal(2)
	if _, err := roundTrip(dial(t, n, 3, to2), 10*time.Second); err != nil {
		t.Fatalf("host 3 to host 2 after heal: %v", err)
	}
}

func TestDelay(t *testing.T) {
	n := netsim.New(t, 2)
	c := dial(t, n, 1, echo(t, n, 2))
	base := minRTT(t, c)
	const d = 100 * time.Millisecond
	n.Delay(1, d)
	// Every packet is held at least d: these bounds cannot flake.
	if rtt := minRTT(t, c); rtt < d {
		t.Fatalf("RTT with host 1 delayed %v: %v (without: %v)", d, rtt, base)
	}
	n.Delay(2, d)
	if rtt := minRTT(t, c); rtt < 2*d {
		t.Fatalf("RTT with both hosts delayed %v: %v (without: %v)", d, rtt, base)
	}
	n.Delay(1, 0)
	n.Delay(2, 0)
	if rtt := minRTT(t, c); rtt >= d {
		t.Fatalf("RTT after the delays ended: %v, want well under %v (it was %v)", rtt, d, base)
	}
}

func TestLoss(t *testing.T) {
	n := netsim.New(t, 2)
	addr := net.JoinHostPort(n.Addr(2), "7001")
	srv, err := n.ListenPacket(2, "udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	c, err := n.DialTimeout(1, "udp", addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// Resolve ARP first, so that the loss drops datagrams, not the lookup.
	if got := sendAndCount(t, c, srv, 10); got != 10 {
		t.Fatalf("%d of 10 datagrams arrived without loss", got)
	}
	n.Loss(1, 50)
	// 400 datagrams at 50%: all or none arrive with probability 2^-400.
	if got := sendAndCount(t, c, srv, 400); got == 0 || got == 400 {
		t.Fatalf("%d of 400 datagrams arrived at 50%% loss, want some but not all", got)
	}
	n.Loss(1, 0)
	if got := sendAndCount(t, c, srv, 10); got != 10 {
		t.Fatalf("%d of 10 datagrams arrived after the loss ended", got)
	}
}

// sendAndCount sends count datagrams on c and counts those srv receives
// until it has been quiet for half a second.
func sendAndCount(t *testing.T, c net.Conn, srv net.PacketConn, count int) int {
	t.Helper()
	for range count {
		if _, err := c.Write([]byte("datagram")); err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Microsecond) // not faster than a receive buffer drains
	}
	got, buf := 0, make([]byte, 64)
	for {
		srv.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		if _, _, err := srv.ReadFrom(buf); err != nil {
			return got
		}
		got++
	}
}

// TestCleanup checks that a Net leaves nothing behind: namespaces,
// processes in its hosts, delay queues.
func TestCleanup(t *testing.T) {
	var names []string
	var pids []int
	t.Run("net", func(t *testing.T) {
		n := netsim.New(t, 2)
		n.Partition(1)
		n.Loss(2, 5)
		n.Delay(2, 10*time.Millisecond)
		names = []string{n.Namespace(1), n.Namespace(2)}
		cmd := n.Command(1, "sleep", "100")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go cmd.Wait()
		pids = append(pids, cmd.Process.Pid)
		pids = append(pids, delayQueues()...) // none where the kernel has netem
	})
	if names == nil {
		t.Skip("the net was not built")
	}
	for _, name := range names {
		if _, err := os.Stat(filepath.Join("/run/netns", name)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("namespace %s outlived its test: %v", name, err)
		}
	}
	for _, pid := range pids {
		if syscall.Kill(pid, 0) == nil && !zombie(pid) {
			cmdline, _ := os.ReadFile("/proc/" + itoa(pid) + "/cmdline")
			t.Errorf("process %d (%q) outlived its test", pid, cmdline)
		}
	}
}

// delayQueues returns the delay queue helpers this process runs.
func delayQueues() []int {
	var out []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || !strings.Contains(string(b), "-netsim.helper=delayq") {
			continue
		}
		st, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if fields := strings.Fields(string(st[strings.LastIndexByte(string(st), ')')+1:])); len(fields) > 1 && fields[1] == itoa(os.Getpid()) {
			out = append(out, atoi(e.Name()))
		}
	}
	return out
}

func itoa(i int) string { return strconv.Itoa(i) }

func atoi(s string) int { i, _ := strconv.Atoi(s); return i }

// zombie reports whether pid has exited and waits for its parent.
func zombie(pid int) bool {
	b, err := os.ReadFile("/proc/" + itoa(pid) + "/stat")
	i := strings.LastIndexByte(string(b), ')')
	return err == nil && i > 0 && len(b) > i+2 && b[i+2] == 'Z'
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// eventually polls cond for up to 10 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("after 10s: not %s", what)
		}
	}
}
