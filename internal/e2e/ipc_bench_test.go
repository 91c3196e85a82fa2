package e2e

// The IPC benchmarks and their baselines: raw loopback TCP between two OS
// processes and, where Erlang/OTP is installed (or can be), two Erlang
// nodes on loopback. Which CPU each end runs on changes a cross-process
// round trip tenfold on a small machine, so every figure is taken under a
// placement (both ends pinned to one CPU, or to two) and states it; a
// benchmark of Nefele's own IPC pins its managed processes the same way
// (placement.pin in their Spec.Command) and reports beside the baselines.
//
// The two ends of a raw TCP baseline are the test binary re-executed in a
// bench role (envBenchRole); so is each end of BenchmarkDialBulk, started
// by agents as a managed process. The Erlang program is
// testdata/ipcbench.erl, compiled with erlc at run time.

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	nefelev1 "github.com/nefele/nefele/api/nefele/v1"
	"github.com/nefele/nefele/internal/testcluster"
	nefele "github.com/nefele/nefele/sdk"
)

const (
	// ipcRounds rounds of each baseline figure are taken, interleaved.
	ipcRounds = 3
	// ipcRoundTrips round trips are timed per ping-pong, after ipcWarmups
	// untimed ones.
	ipcRoundTrips = 5000
	ipcWarmups    = 1000
	// ipcOneWayMessages messages of ipcMessageSize bytes are sent per
	// one-way figure, after ipcOneWayWarmups untimed ones.
	ipcOneWayMessages = 300000
	ipcOneWayWarmups  = 10000
	ipcMessageSize    = 1024
	// bulkBytes are sent per bulk transfer, in writes of bulkChunk bytes;
	// bulkRounds transfers of each kind are timed, interleaved.
	bulkBytes  = 1 << 30
	bulkChunk  = 64 << 10
	bulkRounds = 7
)

// placement says on which CPU each end of an IPC benchmark runs.
type placement struct {
	// Name names the placement in sub-benchmark names: one-cpu, two-cpus.
	Name string
	// CPUs holds the CPU of each end, in order; nil leaves both unpinned.
	CPUs []int
}

var (
	// oneCPU pins both ends to CPU 0: they take turns on it.
	oneCPU = placement{Name: "one-cpu", CPUs: []int{0, 0}}
	// twoCPUs pins the first end to CPU 0 and the second to CPU 1.
	twoCPUs = placement{Name: "two-cpus", CPUs: []int{0, 1}}
	// unpinned leaves the scheduler to place both ends.
	unpinned = placement{Name: "unpinned"}
	// ipcPlacements are the placements every IPC figure is taken under.
	ipcPlacements = []placement{oneCPU, twoCPUs}
)

// pin returns argv run as end (0 or 1) of p: under `taskset -c CPU`, which
// execs it, so the pid is argv's; argv itself when p is unpinned. Use it
// as a Spec.Command to pin a managed process.
func (p placement) pin(end int, argv ...string) []string {
	if p.CPUs == nil {
		return argv
	}
	return append([]string{"taskset", "-c", strconv.Itoa(p.CPUs[end])}, argv...)
}

// skipUnless skips b unless p can be had here: taskset is installed and
// the CPUs p names are ones this process may run on.
func (p placement) skipUnless(b testing.TB) {
	b.Helper()
	if p.CPUs == nil {
		return
	}
	if _, err := exec.LookPath("taskset"); err != nil {
		b.Skip("placement needs taskset (util-linux)")
	}
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		b.Skipf("placement %s: sched_getaffinity: %v", p.Name, err)
	}
	for _, cpu := range p.CPUs {
		if !set.IsSet(cpu) {
			b.Skipf("placement %s needs CPU %d, not available here", p.Name, cpu)
		}
	}
}

// envBenchRole, set in a process's environment, makes the test binary
// play one end of an IPC benchmark (see runBenchRole) instead of running
// the tests. Unlike envRole's roles, these need no agent unless they
// listen on a named port or dial one.
const envBenchRole = "NEFELE_E2E_BENCH_ROLE"

// ipcResult is what the measuring end of a benchmark found, printed as
// one line "result JSON" to stdout.
type ipcResult struct {
	// RTTs are the timed round trips of a ping-pong.
	RTTs latencies `json:"rtts_ns,omitempty"`
	// Messages of Bytes in all were sent one way in Elapsed, counted from
	// the first write until the receiver said it had them all.
	Messages int64         `json:"messages,omitempty"`
	Bytes    int64         `json:"bytes,omitempty"`
	Elapsed  time.Duration `json:"elapsed_ns,omitempty"`
}

// perSecond returns the messages received per second.
func (r ipcResult) perSecond() float64 { return float64(r.Messages) / r.Elapsed.Seconds() }

// mbPerSecond returns the bytes received per second, in MB (10⁶ bytes).
func (r ipcResult) mbPerSecond() float64 { return float64(r.Bytes) / 1e6 / r.Elapsed.Seconds() }

// parseResult finds the result line in a benchmark end's output.
func parseResult(out string) (ipcResult, error) {
	var r ipcResult
	for line := range strings.Lines(out) {
		if js, ok := strings.CutPrefix(line, "result "); ok {
			err := json.Unmarshal([]byte(js), &r)
			return r, err
		}
	}
	return r, fmt.Errorf("no result line in output %q", out)
}

// runBenchRole plays role (words separated by spaces) and returns the exit
// status:
//
//	tcp-serve ADDR|port:NAME         serve connections (see serveConn)
//	tcp-pingpong TARGET SIZE WARMUP N time N echoed messages of SIZE bytes
//	tcp-send TARGET SIZE N           time N writes of SIZE bytes, one way
//	mb-…                             the mailbox ends (see mailboxRole)
//
// TARGET is a host:port or dial:SERVICE/PORT, reached with the SDK's Dial.
func runBenchRole(role string) int {
	args := strings.Fields(role)
	nums := make([]int, len(args))
	for i, a := range args {
		nums[i], _ = strconv.Atoi(a)
	}
	var err error
	switch {
	case args[0] == "tcp-serve" && len(args) == 2:
		err = tcpServe(args[1])
	case args[0] == "tcp-pingpong" && len(args) == 5:
		err = printResult(tcpPingPongEnd(args[1], nums[2], nums[3], nums[4]))
	case args[0] == "tcp-send" && len(args) == 4:
		err = printResult(tcpSendEnd(args[1], nums[2], nums[3]))
	case strings.HasPrefix(args[0], "mb-"):
		err = mailboxRole(args, nums)
	default:
		err = errors.New("unknown bench role")
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", role, err)
		return 1
	}
	return 0
}

func printResult(r ipcResult, err error) error {
	if err != nil {
		return err
	}
	js, err := json.Marshal(r)
	if err != nil {
		return err
	}
	fmt.Printf("result %s\n", js)
	return nil
}

// Each connection to tcp-serve starts with a header: a mode byte and a
// big-endian uint32. In modeEcho the server reads messages of that many
// bytes and writes each back; in modeSink it reads to EOF and then writes
// the count of bytes it read, as a big-endian uint64.
const (
	modeEcho = 'e'
	modeSink = 's'
)

// tcpServe listens on addr, or on the named port of a managed process
// ("port:NAME"), prints "listening at ADDR" and serves until killed.
func tcpServe(addr string) error {
	ctx := context.Background()
	var l net.Listener
	var err error
	if name, ok := strings.CutPrefix(addr, "port:"); ok {
		var c *nefele.Client
		if c, err = nefele.Connect(ctx); err != nil {
			return fmt.Errorf("connect: %w", err)
		}
		l, err = c.Listen(ctx, name)
	} else {
		l, err = net.Listen("tcp", addr)
	}
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	fmt.Println("listening at", l.Addr())
	for {
		conn, err := l.Accept()
		if err != nil {
			return fmt.Errorf("accept: %w", err)
		}
		go serveConn(conn)
	}
}

// serveConn serves one connection of tcp-serve.
func serveConn(conn net.Conn) error {
	defer conn.Close()
	var hdr [5]byte
	if _, err := io.ReadFull(conn, hdr[:]); err != nil {
		return err
	}
	switch hdr[0] {
	case modeEcho:
		msg := make([]byte, binary.BigEndian.Uint32(hdr[1:]))
		for {
			if _, err := io.ReadFull(conn, msg); err != nil {
				return err
			}
			if _, err := conn.Write(msg); err != nil {
				return err
			}
		}
	case modeSink:
		buf := make([]byte, 256<<10)
		var n uint64
		for {
			m, err := conn.Read(buf)
			n += uint64(m)
			if err == io.EOF {
				break
			} else if err != nil {
				return err
			}
		}
		_, err := conn.Write(binary.BigEndian.AppendUint64(nil, n))
		return err
	}
	return fmt.Errorf("unknown mode %q", hdr[0])
}

// dialTarget connects to a host:port, or with the SDK's Dial to
// "dial:SERVICE/PORT", and writes the connection's header.
func dialTarget(target string, mode byte, size int) (net.Conn, error) {
	ctx := context.Background()
	var conn net.Conn
	var err error
	if svc, ok := strings.CutPrefix(target, "dial:"); ok {
		var c *nefele.Client
		if c, err = nefele.Connect(ctx); err != nil {
			return nil, fmt.Errorf("connect: %w", err)
		}
		conn, err = c.Dial(ctx, svc)
	} else {
		conn, err = net.Dial("tcp", target)
	}
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", target, err)
	}
	if _, err := conn.Write(binary.BigEndian.AppendUint32([]byte{mode}, uint32(size))); err != nil {
		conn.Close()
		return nil, fmt.Errorf("write header: %w", err)
	}
	return conn, nil
}

// tcpPingPongEnd sends warmup and then n timed messages of size bytes to
// an echo server, each waiting for its echo.
func tcpPingPongEnd(target string, size, warmup, n int) (ipcResult, error) {
	conn, err := dialTarget(target, modeEcho, size)
	if err != nil {
		return ipcResult{}, err
	}
	defer conn.Close()
	msg := make([]byte, size)
	rtts := make(latencies, 0, n)
	for i := range warmup + n {
		start := time.Now()
		if _, err := conn.Write(msg); err != nil {
			return ipcResult{}, err
		}
		if _, err := io.ReadFull(conn, msg); err != nil {
			return ipcResult{}, err
		}
		if i >= warmup {
			rtts = append(rtts, time.Since(start))
		}
	}
	return ipcResult{RTTs: rtts}, nil
}

// tcpSendEnd writes n messages of size bytes to a sink, one write each,
// and times them until the sink has counted them all.
func tcpSendEnd(target string, size, n int) (ipcResult, error) {
	conn, err := dialTarget(target, modeSink, 0)
	if err != nil {
		return ipcResult{}, err
	}
	defer conn.Close()
	msg := make([]byte, size)
	start := time.Now()
	for range n {
		if _, err := conn.Write(msg); err != nil {
			return ipcResult{}, err
		}
	}
	if err := conn.(interface{ CloseWrite() error }).CloseWrite(); err != nil {
		return ipcResult{}, err
	}
	var ack [8]byte
	if _, err := io.ReadFull(conn, ack[:]); err != nil {
		return ipcResult{}, fmt.Errorf("read the count: %w", err)
	}
	elapsed := time.Since(start)
	total := int64(size) * int64(n)
	if got := int64(binary.BigEndian.Uint64(ack[:])); got != total {
		return ipcResult{}, fmt.Errorf("sink counted %d bytes, sent %d", got, total)
	}
	return ipcResult{Messages: int64(n), Bytes: total, Elapsed: elapsed}, nil
}

// benchCommand returns the test binary in a bench role, as end of p, in a
// session of its own (see ownSession).
func benchCommand(p placement, end int, role string) *exec.Cmd {
	exe, err := os.Executable()
	if err != nil {
		panic(err)
	}
	argv := p.pin(end, exe)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), envBenchRole+"="+role)
	cmd.SysProcAttr = ownSession()
	return cmd
}

// ownSession puts a baseline's process in a session (and process group) of
// its own, as an agent does each managed process. With autogroup
// scheduling (Debian's default) a session is a scheduling group, and two
// ends in two groups sharing one CPU move about 15% less than two in one:
// the baselines pay what managed processes pay.
func ownSession() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setsid: true} }

// benchRoleSpec runs the test binary in a bench role as a managed process,
// as end of p.
func benchRoleSpec(p placement, end int, role string) *nefele.Spec {
	exe, err := os.Executable()
	if err != nil {
		panic(err)
	}
	return &nefele.Spec{Command: p.pin(end, exe), Env: []string{envBenchRole + "=" + role}}
}

// startTCPServer starts a tcp-serve process on loopback as end 0 of p,
// stopped at b's cleanup, and returns its address.
func startTCPServer(b testing.TB, p placement) string {
	b.Helper()
	cmd := benchCommand(p, 0, "tcp-serve 127.0.0.1:0")
	var stderr testcluster.SyncBuffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatalf("start the TCP server: %v", err)
	}
	b.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "listening at ")
	if err != nil || !ok {
		b.Fatalf("TCP server: %q %v %s", line, err, stderr.String())
	}
	go io.Copy(io.Discard, out)
	return addr
}

// runBenchEnd runs the test binary in role as end 1 of p, to its end, and
// returns the result it printed.
func runBenchEnd(b testing.TB, p placement, role string) ipcResult {
	b.Helper()
	cmd := benchCommand(p, 1, role)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		b.Fatalf("%s: %v\n%s", role, err, stderr.String())
	}
	r, err := parseResult(string(out))
	if err != nil {
		b.Fatalf("%s: %v", role, err)
	}
	return r
}

// tcpPingPong times n round trips of size-byte messages between two OS
// processes over loopback TCP, placed by p (the echo server is end 0),
// after ipcWarmups untimed ones, and returns them.
func tcpPingPong(b testing.TB, p placement, size, n int) latencies {
	b.Helper()
	addr := startTCPServer(b, p)
	return runBenchEnd(b, p, fmt.Sprintf("tcp-pingpong %s %d %d %d", addr, size, ipcWarmups, n)).RTTs
}

// tcpOneWay sends n messages of size bytes, one write each, from one OS
// process to another over loopback TCP, placed by p (the receiver is end
// 0), after a first connection of ipcOneWayWarmups messages, and returns
// the messages received per second.
func tcpOneWay(b testing.TB, p placement, size, n int) float64 {
	b.Helper()
	addr := startTCPServer(b, p)
	runBenchEnd(b, p, fmt.Sprintf("tcp-send %s %d %d", addr, size, ipcOneWayWarmups))
	return runBenchEnd(b, p, fmt.Sprintf("tcp-send %s %d %d", addr, size, n)).perSecond()
}

// tcpBulk sends total bytes, in writes of bulkChunk, from one OS process
// to another over loopback TCP, placed by p (the receiver is end 0), and
// returns the throughput in MB/s.
func tcpBulk(b testing.TB, p placement, total int) float64 {
	b.Helper()
	addr := startTCPServer(b, p)
	return runBenchEnd(b, p, fmt.Sprintf("tcp-send %s %d %d", addr, bulkChunk, total/bulkChunk)).mbPerSecond()
}

var (
	erlangOnce sync.Once
	erlangErr  error
)

// needErlang makes sure erl, erlc and epmd are on PATH, installing
// erlang-nox with apt-get when they are not and this process is root.
func needErlang() error {
	erlangOnce.Do(func() {
		if _, err := exec.LookPath("erl"); err == nil {
			return
		}
		if _, err := exec.LookPath("apt-get"); err != nil || os.Getuid() != 0 {
			erlangErr = errors.New("erl is not installed (apt-get install erlang-nox, as root, would install it)")
			return
		}
		apt := func(args ...string) ([]byte, error) {
			cmd := exec.Command("apt-get", args...)
			cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
			return cmd.CombinedOutput()
		}
		if _, err := apt("install", "-y", "erlang-nox"); err == nil {
			return
		}
		if out, err := apt("update"); err != nil {
			erlangErr = fmt.Errorf("erl is not installed, and apt-get update failed: %w\n%s", err, out)
		} else if out, err := apt("install", "-y", "erlang-nox"); err != nil {
			erlangErr = fmt.Errorf("erl is not installed, and apt-get install -y erlang-nox failed: %w\n%s", err, out)
		}
	})
	return erlangErr
}

// erlangServer is an Erlang node on loopback running ipcbench:serve/0 as
// end 0 of a placement, with the epmd it uses; both are killed at the
// cleanup of the testing.TB that started them.
type erlangServer struct {
	p      placement
	node   string // like ipcsrv-123-1@127.0.0.1
	cookie string
	env    []string // ERL_EPMD_PORT, for the nodes that reach it
	beams  string   // the directory of ipcbench.beam
}

// erlangNodes numbers the Erlang nodes this process starts.
var erlangNodes atomic.Int64

// startErlang starts an epmd on a free port and a server node on loopback
// as end 0 of p. It returns an error, for the caller to log, when Erlang
// is not installed and cannot be.
func startErlang(b testing.TB, p placement) (*erlangServer, error) {
	b.Helper()
	if err := needErlang(); err != nil {
		return nil, err
	}
	dir := b.TempDir()
	if out, err := exec.Command("erlc", "-o", dir, "testdata/ipcbench.erl").CombinedOutput(); err != nil {
		return nil, fmt.Errorf("erlc testdata/ipcbench.erl: %w\n%s", err, out)
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	e := &erlangServer{p: p, cookie: fmt.Sprintf("nefele-bench-%d", os.Getpid()), beams: dir,
		env: append(os.Environ(), "ERL_EPMD_PORT="+strconv.Itoa(port))}
	epmd := exec.Command("epmd", "-port", strconv.Itoa(port))
	if err := startGroup(b, epmd); err != nil {
		return nil, fmt.Errorf("start epmd: %w", err)
	}
	e.node = e.nodeName("ipcsrv")
	srv := e.erl(0, e.node, "ipcbench:serve()")
	out, err := srv.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := startGroup(b, srv); err != nil {
		return nil, fmt.Errorf("start the Erlang server node: %w", err)
	}
	if line, err := bufio.NewReader(out).ReadString('\n'); err != nil || line != "serving\n" {
		return nil, fmt.Errorf("Erlang server node: %q %v", line, err)
	}
	go io.Copy(io.Discard, out)
	return e, nil
}

// freePort returns a TCP port of loopback that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// startGroup starts cmd in a session and process group of its own (see
// ownSession), which b's cleanup SIGKILLs before it reaps cmd: an Erlang
// node has helper processes (erl_child_setup).
func startGroup(b testing.TB, cmd *exec.Cmd) error {
	cmd.SysProcAttr = ownSession()
	if err := cmd.Start(); err != nil {
		return err
	}
	b.Cleanup(func() { syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); cmd.Wait() })
	return nil
}

func (e *erlangServer) nodeName(prefix string) string {
	return fmt.Sprintf("%s-%d-%d@127.0.0.1", prefix, os.Getpid(), erlangNodes.Add(1))
}

// erl returns the command of an Erlang node named node, as end of the
// placement, that evaluates expr.
func (e *erlangServer) erl(end int, node, expr string) *exec.Cmd {
	argv := e.p.pin(end, "erl", "-noshell", "-name", node, "-setcookie", e.cookie,
		"-start_epmd", "false", "-pa", e.beams, "-eval", expr)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = e.env
	return cmd
}

// run runs a client node, end 1 of the placement, that evaluates
// ipcbench:fn(Server, args...) and returns the result it printed.
func (e *erlangServer) run(b testing.TB, fn string, args ...int) ipcResult {
	b.Helper()
	expr := fmt.Sprintf("ipcbench:%s('%s'", fn, e.node)
	for _, a := range args {
		expr += fmt.Sprintf(", %d", a)
	}
	cmd := e.erl(1, e.nodeName("ipccli"), expr+")")
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.SysProcAttr = ownSession()
	if err := cmd.Start(); err != nil {
		b.Fatalf("start an Erlang client node: %v", err)
	}
	// The node halts when it is done; one that hangs is killed, with its
	// helpers, before it is reaped (so its pid is still its own).
	hung := time.AfterFunc(2*time.Minute, func() { syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) })
	err := cmd.Wait()
	hung.Stop()
	if err != nil {
		b.Fatalf("Erlang %s: %v\n%s%s", expr, err, stdout.String(), stderr.String())
	}
	r, err := parseResult(stdout.String())
	if err != nil {
		b.Fatalf("Erlang %s: %v", expr, err)
	}
	return r
}

// pingPong times n remote round trips of a size-byte binary from a client
// node to the server process, after ipcWarmups untimed ones, and returns
// them.
func (e *erlangServer) pingPong(b testing.TB, size, n int) latencies {
	b.Helper()
	return e.run(b, "pingpong", size, ipcWarmups, n).RTTs
}

// oneWay sends n messages of a size-byte binary from a client node to the
// server process and returns the messages received per second.
func (e *erlangServer) oneWay(b testing.TB, size, n int) float64 {
	b.Helper()
	return e.run(b, "oneway", size, ipcOneWayWarmups, n).perSecond()
}

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

// reportRTT reports the median and p99 of l as name-median-us and name-p99-us.
func reportRTT(b *testing.B, name string, l latencies) {
	b.ReportMetric(us(l.median()), name+"-median-us")
	b.ReportMetric(us(l.quantile(0.99)), name+"-p99-us")
}

// BenchmarkIPCBaselines reports the limits the IPC figures are set
// against, under each placement: raw loopback TCP between two OS
// processes (ping-pong of 64 B and 1 KiB, one-way 1 KiB messages, bulk),
// and Erlang/OTP distribution between two nodes (ping-pong, one-way 1 KiB
// messages) with their ratios to raw TCP. It takes ipcRounds rounds of
// every figure, interleaved: the round trips of all rounds are pooled, the
// rates are the median of the rounds'. Without Erlang it logs why and
// reports the TCP figures alone.
func BenchmarkIPCBaselines(b *testing.B) {
	for _, p := range append(ipcPlacements, unpinned) {
		b.Run(p.Name, func(b *testing.B) {
			p.skipUnless(b)
			e, err := startErlang(b, p)
			if err != nil {
				b.Logf("no Erlang figures: %v", err)
			}
			var tcp, erl baselineFigures
			for range ipcRounds {
				tcp.add(tcpPingPong(b, p, 64, ipcRoundTrips), tcpPingPong(b, p, ipcMessageSize, ipcRoundTrips),
					tcpOneWay(b, p, ipcMessageSize, ipcOneWayMessages))
				tcp.bulk = append(tcp.bulk, tcpBulk(b, p, bulkBytes))
				if e != nil {
					erl.add(e.pingPong(b, 64, ipcRoundTrips), e.pingPong(b, ipcMessageSize, ipcRoundTrips),
						e.oneWay(b, ipcMessageSize, ipcOneWayMessages))
				}
			}
			tcp.report(b, "tcp")
			b.ReportMetric(medianOf(tcp.bulk), "tcp-bulk-MB/s")
			if e != nil {
				erl.report(b, "erlang")
				b.ReportMetric(float64(erl.rtt64.median())/float64(tcp.rtt64.median()), "erlang-rtt-64B-x-tcp")
				b.ReportMetric(float64(erl.rtt1k.median())/float64(tcp.rtt1k.median()), "erlang-rtt-1KiB-x-tcp")
				b.ReportMetric(medianOf(erl.oneWay)/medianOf(tcp.oneWay), "erlang-oneway-x-tcp")
			}
			b.ReportMetric(0, "ns/op")
		})
	}
}

// baselineFigures gathers the rounds of one baseline: round trips of 64 B
// and 1 KiB, one-way 1 KiB messages per second and bulk MB/s.
type baselineFigures struct {
	rtt64, rtt1k latencies
	oneWay, bulk []float64
}

func (f *baselineFigures) add(rtt64, rtt1k latencies, oneWay float64) {
	f.rtt64 = append(f.rtt64, rtt64...)
	f.rtt1k = append(f.rtt1k, rtt1k...)
	f.oneWay = append(f.oneWay, oneWay)
}

func (f *baselineFigures) report(b *testing.B, name string) {
	reportRTT(b, name+"-rtt-64B", f.rtt64)
	reportRTT(b, name+"-rtt-1KiB", f.rtt1k)
	b.ReportMetric(medianOf(f.oneWay), name+"-oneway-1KiB-msgs/s")
}

// BenchmarkDialBulk sends bulkBytes over a connection from the SDK's Dial,
// from a managed process on agent n2 to a managed process on n1 listening
// on its named port, beside the same client and server programs as plain
// OS processes over loopback TCP: bulkRounds transfers of each,
// interleaved (each first in turn), under each placement (the server is
// end 0; the agents are not pinned). It reports the medians in MB/s and
// their ratio.
func BenchmarkDialBulk(b *testing.B) {
	agents := testcluster.Start(b, 2)
	c := agents[0].Client()
	for _, p := range ipcPlacements {
		b.Run(p.Name, func(b *testing.B) {
			p.skipUnless(b)
			dialBulk(b, c, p)
		})
	}
}

func dialBulk(b *testing.B, c *nefele.Client, p placement) {
	ctx := ctxB(b)
	name := "bulk-" + p.Name
	spec := benchRoleSpec(p, 0, "tcp-serve port:data")
	spec.Ports, spec.Node = []string{"data"}, "n1"
	srv, err := c.Spawn(ctx, spec, nefele.SpawnOptions{Name: name})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Stop(ctx, srv[0].Gpid, time.Second)
	waitPublished(b, c, name)
	addr := startTCPServer(b, p)
	send := fmt.Sprintf("tcp-send %%s %d %d", bulkChunk, bulkBytes/bulkChunk)
	var dial, raw []float64
	for i := range bulkRounds { // in turn first, so that neither is always second
		for j := range 2 {
			if (i+j)%2 == 0 {
				raw = append(raw, runBenchEnd(b, p, fmt.Sprintf(send, addr)).mbPerSecond())
			} else {
				dial = append(dial, runManagedEnd(b, c, p, "n2", fmt.Sprintf(send, "dial:"+name+"/data")).mbPerSecond())
			}
		}
	}
	b.Logf("MB/s per round, Dial %.0f, raw TCP %.0f", dial, raw)
	d, r := medianOf(dial), medianOf(raw)
	b.ReportMetric(d, "dial-MB/s")
	b.ReportMetric(r, "tcp-MB/s")
	b.ReportMetric(d/r, "dial-x-tcp")
	b.ReportMetric(0, "ns/op")
}

// waitPublished waits until service publishes an endpoint.
func waitPublished(b *testing.B, c *nefele.Client, service string) {
	b.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if eps, err := c.Ports(ctxB(b), service); err == nil && len(eps) > 0 {
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("%s publishes no port after 30 s", service)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// runManagedEnd runs the test binary in role as a managed process on node,
// as end 1 of p, waits for it to exit and returns the result it logged.
func runManagedEnd(b *testing.B, c *nefele.Client, p placement, node, role string) ipcResult {
	b.Helper()
	ctx := ctxB(b)
	spec := benchRoleSpec(p, 1, role)
	spec.Node = node
	procs, err := c.Spawn(ctx, spec, nefele.SpawnOptions{})
	if err != nil {
		b.Fatal(err)
	}
	gpid := procs[0].Gpid
	end, err := c.Wait(ctx, gpid)
	if err != nil {
		b.Fatal(err)
	}
	var stdout, stderr strings.Builder
	if err := c.Logs(ctx, gpid, nefele.LogsOptions{}, &stdout, &stderr); err != nil {
		b.Fatalf("logs of %s: %v", gpid, err)
	}
	if end[0].State != nefelev1.State_STATE_EXITED || end[0].ExitCode != 0 {
		b.Fatalf("%s (%s): %s, exit %d\n%s", role, gpid, end[0].State, end[0].ExitCode, stderr.String())
	}
	r, err := parseResult(stdout.String())
	if err != nil {
		b.Fatalf("%s (%s): %v", role, gpid, err)
	}
	return r
}

// medianOf returns the median of xs (the upper one of an even count).
func medianOf(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	slices.Sort(s)
	return s[len(s)/2]
}
