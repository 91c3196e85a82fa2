// Package testcluster starts real Nefele agents for tests: the nefele binary,
// built once per test process, run as separate OS processes on port 0 in
// t.TempDir(), each torn down (with every process it manages) by t.Cleanup
// even when the test fails. Only tests import it.
package testcluster

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	nefele "github.com/nefele/nefele/sdk"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
	binDir    string
)

// Main runs the tests of a package and removes the binary built for them.
// Use it from TestMain: func TestMain(m *testing.M) { testcluster.Main(m) }.
func Main(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// Binary returns the path of the nefele binary built from this checkout.
func Binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "nefele-testbin-")
		if buildErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "nefele")
		cmd := exec.Command("go", "build", "-o", binPath, "./cmd/nefele")
		cmd.Dir = moduleRoot()
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			buildErr = fmt.Errorf("go build ./cmd/nefele: %v\n%s", err, out.String())
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// built holds, by package, the binaries Build made.
var built sync.Map // string → *builtBinary

type builtBinary struct {
	once sync.Once
	path string
	err  error
}

// Build returns the path of a binary built from package pkg of this
// checkout (like "./examples/counter"), built once per test binary next to
// the nefele binary.
func Build(t testing.TB, pkg string) string {
	t.Helper()
	dir := filepath.Dir(Binary(t))
	v, _ := built.LoadOrStore(pkg, &builtBinary{})
	b := v.(*builtBinary)
	b.once.Do(func() {
		b.path = filepath.Join(dir, filepath.Base(pkg))
		cmd := exec.Command("go", "build", "-o", b.path, pkg)
		cmd.Dir = moduleRoot()
		if out, err := cmd.CombinedOutput(); err != nil {
			b.err = fmt.Errorf("go build %s: %v\n%s", pkg, err, out)
		}
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.path
}

func moduleRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// Agent is one agent process started by StartAgent.
type Agent struct {
	// Addr is the agent's API address; DataDir its data dir.
	Addr, DataDir string

	t      testing.TB
	marker string
	sub    string // the subcommand: dev or agent
	opts   Options
	mu     sync.Mutex // guards cmd and exited
	cmd    *exec.Cmd
	exited chan struct{}
	log    *SyncBuffer
}

// StartAgent starts `nefele dev` on a fresh data dir and port 0 and waits
// until it serves.
func StartAgent(t testing.TB, extraArgs ...string) *Agent {
	t.Helper()
	return startAs(t, "dev", extraArgs)
}

// StartNode starts `nefele agent` with extraArgs (--name, --labels, --cpu,
// --max-procs, …) on a fresh data dir and port 0 and waits until it serves.
func StartNode(t testing.TB, extraArgs ...string) *Agent {
	t.Helper()
	return startAs(t, "agent", extraArgs)
}

// Options are the rarer settings of an agent, for StartNodeWith.
type Options struct {
	// Wrap is a command line the agent runs under, its own appended: like
	// netsim's Wrap(i), which runs it in a network namespace. The wrapper
	// must exec the agent, so that the agent keeps the pid Start gave.
	Wrap []string
	// Addr is the API address (default 127.0.0.1:0); the embedded etcd
	// member listens on its host too.
	Addr string
}

// StartNodeWith is StartNode with opts; Restart keeps them.
func StartNodeWith(t testing.TB, opts Options, extraArgs ...string) *Agent {
	t.Helper()
	return startWith(t, "agent", opts, extraArgs)
}

func startAs(t testing.TB, sub string, extraArgs []string) *Agent {
	t.Helper()
	return startWith(t, sub, Options{}, extraArgs)
}

func startWith(t testing.TB, sub string, opts Options, extraArgs []string) *Agent {
	t.Helper()
	a := &Agent{t: t, DataDir: t.TempDir(), marker: fmt.Sprintf("%d-%d", os.Getpid(), time.Now().UnixNano()), sub: sub, opts: opts}
	a.start(extraArgs...)
	t.Cleanup(a.cleanup)
	return a
}

// SyncBuffer is a bytes.Buffer safe for one writer and many readers, for
// the output of a process a test reads while it runs.
type SyncBuffer struct {
	mu sync.Mutex // guards b
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func (a *Agent) start(extraArgs ...string) {
	a.t.Helper()
	addr := cmp.Or(a.opts.Addr, "127.0.0.1:0")
	args := append([]string{a.sub, "--data-dir", a.DataDir, "--addr", addr}, extraArgs...)
	argv := append(slices.Clone(a.opts.Wrap), Binary(a.t))
	cmd := exec.Command(argv[0], append(argv[1:], args...)...)
	cmd.Env = append(os.Environ(), "NEFELE_TEST_MARKER="+a.marker)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		a.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		a.t.Fatalf("start agent: %v", err)
	}
	a.log = &SyncBuffer{}
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sent := false
		for sc.Scan() {
			line := sc.Text()
			a.log.Write([]byte(line + "\n"))
			if !sent && strings.Contains(line, "agent ready") {
				ready <- true
				sent = true
			}
		}
		if !sent {
			ready <- false
		}
		io.Copy(io.Discard, stderr)
	}()
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	a.mu.Lock()
	a.cmd, a.exited = cmd, exited
	a.mu.Unlock()
	select {
	case ok := <-ready:
		if !ok {
			a.t.Fatalf("agent exited before it was ready:\n%s", a.log.String())
		}
	case <-time.After(60 * time.Second):
		a.t.Fatalf("agent not ready after 60s:\n%s", a.log.String())
	}
	b, err := os.ReadFile(filepath.Join(a.DataDir, "agent.addr"))
	if err != nil {
		a.t.Fatalf("agent ready but no address: %v", err)
	}
	a.Addr = strings.TrimSpace(string(b))
}

// PID returns the agent's OS pid.
func (a *Agent) PID() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.cmd.Process.Pid
}

// Log returns what the agent has logged so far.
func (a *Agent) Log() string { return a.log.String() }

// Kill SIGKILLs the agent and waits for it to be gone; its processes live on.
func (a *Agent) Kill() {
	a.mu.Lock()
	cmd, exited := a.cmd, a.exited
	a.mu.Unlock()
	cmd.Process.Signal(syscall.SIGKILL)
	<-exited
}

// Stop sends SIGTERM and waits for the agent to exit (a graceful shutdown).
func (a *Agent) Stop() {
	a.mu.Lock()
	cmd, exited := a.cmd, a.exited
	a.mu.Unlock()
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(60 * time.Second):
		cmd.Process.Signal(syscall.SIGKILL)
		<-exited
		a.t.Errorf("agent did not stop within 60s of SIGTERM:\n%s", a.log.String())
	}
}

// Restart starts the agent again on the same data dir (after Kill or Stop).
func (a *Agent) Restart(extraArgs ...string) {
	a.t.Helper()
	a.start(extraArgs...)
}

// Running reports whether the agent process is alive.
func (a *Agent) Running() bool {
	select {
	case <-a.exited:
		return false
	default:
		return true
	}
}

// Client returns an SDK client of the agent.
func (a *Agent) Client() *nefele.Client {
	c, err := nefele.Dial(a.Addr)
	if err != nil {
		a.t.Fatal(err)
	}
	a.t.Cleanup(func() { c.Close() })
	return c
}

// Result is what one CLI run printed and its exit code.
type Result struct {
	Stdout, Stderr string
	Code           int
}

// CLI runs the nefele binary against the agent with args and returns what it
// printed. stdin, when not nil, is its standard input.
func (a *Agent) CLI(stdin io.Reader, args ...string) Result {
	a.t.Helper()
	return RunCLI(a.t, a.Addr, stdin, args...)
}

// RunCLI runs the nefele binary with NEFELE_ADDR=addr.
func RunCLI(t testing.TB, addr string, stdin io.Reader, args ...string) Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, Binary(t), args...)
	cmd.Env = append(os.Environ(), "NEFELE_ADDR="+addr)
	cmd.Stdin = stdin
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			code = 128 + int(ws.Signal())
		}
	} else if err != nil {
		t.Fatalf("nefele %s: %v", strings.Join(args, " "), err)
	}
	return Result{Stdout: out.String(), Stderr: errb.String(), Code: code}
}

func (a *Agent) cleanup() {
	if a.Running() {
		a.Stop()
	}
	killMarked(a.marker)
	removeCgroups(a.DataDir)
	if a.t.Failed() {
		a.t.Logf("agent log:\n%s", a.log.String())
	}
}

// killMarked SIGKILLs every process whose environment carries the agent's
// test marker: whatever a killed agent left behind.
func killMarked(marker string) {
	want := []byte("NEFELE_TEST_MARKER=" + marker + "\x00")
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		env, err := os.ReadFile("/proc/" + e.Name() + "/environ")
		if err == nil && bytes.Contains(append(env, 0), want) {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// removeCgroups removes the cgroups an agent made (it writes their base
// into its data dir), which a killed agent leaves behind.
func removeCgroups(dataDir string) {
	b, err := os.ReadFile(filepath.Join(dataDir, "cgroup"))
	base := strings.TrimSpace(string(b))
	if err != nil || base == "" || !strings.Contains(filepath.Base(base), "nefele-") {
		return
	}
	entries, _ := os.ReadDir(base)
	for _, e := range entries {
		if e.IsDir() {
			os.WriteFile(filepath.Join(base, e.Name(), "cgroup.kill"), []byte("1"), 0)
			for range 100 {
				if os.Remove(filepath.Join(base, e.Name())) == nil {
					break
				}
				time.Sleep(10 * time.Millisecond)
			}
		}
	}
	os.Remove(base)
}

// Start starts a cluster of n agents (`nefele agent`) on loopback, named n1
// … nN: n1 starts it, n2 and n3 join as etcd members (servers), the rest as
// workers. It returns them in order.
func Start(t testing.TB, n int) []*Agent {
	t.Helper()
	first := StartNode(t, "--name", "n1")
	agents := []*Agent{first}
	for i := 2; i <= n; i++ {
		args := []string{"--name", fmt.Sprintf("n%d", i), "--join", first.Addr}
		if i <= 3 {
			args = append(args, "--server")
		}
		agents = append(agents, StartNode(t, args...))
	}
	waitAllUp(t, agents)
	return agents
}

// waitAllUp waits until every agent's cluster view shows all of them up:
// each view follows the store within milliseconds, and a test that acts
// at once must not meet one that lags.
func waitAllUp(t testing.TB, agents []*Agent) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for _, a := range agents {
		c := a.Client()
		for {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			nodes, err := c.Nodes(ctx)
			cancel()
			up := 0
			for _, n := range nodes {
				if n.State == "up" {
					up++
				}
			}
			if err == nil && up >= len(agents) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("agent %s does not see the %d agents up after 30s: %v %v", a.Addr, len(agents), nodes, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}
