package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	nefele "github.com/nefele/nefele/sdk"
)

// upNode is one agent started by up.
type upNode struct {
	name, addr, log string
	dir             string // its data dir
	server          bool
	cmd             *exec.Cmd
	exited          chan struct{}
}

func (c *cli) newUpCmd() *cobra.Command {
	var (
		nodes    = 3
		dataDir  string
		basePort = 7070
	)
	cmd := &cobra.Command{
		Use:   "up --nodes N [--data-dir DIR] [--base-port P]",
		Short: "Run a cluster of N agents on this machine, until Ctrl-C",
		Long: `up starts N agents as separate processes on loopback, named n1 … nN: n1
starts the cluster, n2 and n3 join it as etcd members (servers), the others
as workers. Agent i listens at 127.0.0.1:P+i-1 (P is --base-port, 7070 by
default, so n1 answers where the CLI looks by default), keeps its state in
DIR/nI and logs to DIR/nI.log. up prints a table of them once all are up,
and stops them all on SIGINT or SIGTERM.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dataDir == "" {
				dataDir = filepath.Join(defaultDataDir(c.getenv), "up")
			}
			return c.up(cmd, nodes, dataDir, basePort)
		},
	}
	fl := cmd.Flags()
	fl.Var(&intValue{p: &nodes, min: 1, hint: "want a number of nodes, 1 or more"}, "nodes", "how many agents to run")
	fl.StringVar(&dataDir, "data-dir", "", "`DIR` of the agents' data dirs (default: the dev data dir's up/)")
	fl.Var(&intValue{p: &basePort, min: 1, hint: "want a port, 1 to 65535"}, "base-port", "API port of n1; agent i gets P+i-1")
	return cmd
}

func (c *cli) up(cmd *cobra.Command, n int, dataDir string, basePort int) error {
	if basePort+n-1 > 65535 {
		return usageErr(cmd, "up: --base-port %d leaves no room for %d agents (ports up to 65535)", basePort, n)
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	ctx, stop := interruptible(cmd.Context())
	defer stop()
	var started []*upNode
	defer func() { stopNodes(started) }()
	first := "127.0.0.1:" + strconv.Itoa(basePort)
	for i := 1; i <= n; i++ {
		node, err := startNode(ctx, self, dataDir, i, basePort, first)
		if node != nil {
			started = append(started, node)
		}
		if err != nil {
			return err
		}
	}
	t := newTable(c.stdout, "NAME", "ADDRESS", "PID", "ROLE", "LOG")
	for _, node := range started {
		role := "worker"
		if node.server {
			role = "server"
		}
		t.row(node.name, node.addr, strconv.Itoa(node.cmd.Process.Pid), role, node.log)
	}
	t.flush()
	fmt.Fprintf(c.stderr, "cluster up: %d agents; Ctrl-C stops them all\n", n)
	return waitNodes(ctx, c.stderr, started)
}

// startNode starts agent i and waits until it answers.
func startNode(ctx context.Context, self, dataDir string, i, basePort int, first string) (*upNode, error) {
	name := "n" + strconv.Itoa(i)
	node := &upNode{name: name, addr: "127.0.0.1:" + strconv.Itoa(basePort+i-1),
		log: filepath.Join(dataDir, name+".log"), dir: filepath.Join(dataDir, name), server: i <= 3, exited: make(chan struct{})}
	if l, err := net.Listen("tcp", node.addr); err != nil {
		return nil, fmt.Errorf("up: %s cannot listen at %s: %w (choose another --base-port)", name, node.addr, err)
	} else {
		l.Close()
	}
	if err := os.MkdirAll(dataDir, 0o750); err != nil {
		return nil, err
	}
	logf, err := os.OpenFile(node.log, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	args := []string{"--addr", node.addr, "agent", "--name", name, "--data-dir", filepath.Join(dataDir, name)}
	if node.server {
		args = append(args, "--server")
	}
	if i > 1 {
		args = append(args, "--join", first)
	}
	node.cmd = exec.Command(self, args...)
	node.cmd.Stdout, node.cmd.Stderr = logf, logf
	node.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // Ctrl-C reaches up, which stops them in order
	if err := node.cmd.Start(); err != nil {
		return nil, fmt.Errorf("up: start %s: %w", name, err)
	}
	go func() { node.cmd.Wait(); close(node.exited) }()
	return node, waitUp(ctx, node)
}

// waitUp polls the agent's API until it answers, it exits, or 60 s pass.
func waitUp(ctx context.Context, node *upNode) error {
	client, err := nefele.Dial(node.addr)
	if err != nil {
		return err
	}
	defer client.Close()
	deadline := time.Now().Add(60 * time.Second)
	for {
		vctx, cancel := context.WithTimeout(ctx, time.Second)
		_, err := client.Version(vctx)
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-node.exited:
			return fmt.Errorf("up: %s exited before it was up; see %s", node.name, node.log)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("up: %s not up after 60s; see %s", node.name, node.log)
		}
	}
}

// waitNodes waits for a signal. An agent that exits on its own (killed, to
// watch the cluster survive a node's death, say) is reported, and the
// others go on; up ends with an error once all have exited.
func waitNodes(ctx context.Context, w io.Writer, nodes []*upNode) error {
	died := make(chan *upNode, len(nodes))
	for _, n := range nodes {
		go func() {
			<-n.exited
			died <- n
		}()
	}
	for left := len(nodes); ; {
		select {
		case <-ctx.Done():
			return nil
		case n := <-died:
			left--
			if left == 0 {
				return fmt.Errorf("up: every agent has exited; the last was %s, see %s", n.name, n.log)
			}
			fmt.Fprintf(w, "up: %s exited (%s); the other agents go on, Ctrl-C stops them; see %s\n", n.name, n.cmd.ProcessState, n.log)
		}
	}
}

// stopNodes sends SIGTERM to every agent at once, so that the etcd members
// keep their quorum while the processes are stopped, and waits for them;
// one that does not stop within a minute is killed.
func stopNodes(nodes []*upNode) {
	for _, n := range nodes {
		select {
		case <-n.exited: // it died on its own: its processes live on
			killLeftovers(n.dir, n.cmd.Process.Pid)
		default:
			n.cmd.Process.Signal(syscall.SIGTERM)
		}
	}
	var errs []error
	for _, n := range nodes {
		select {
		case <-n.exited:
		case <-time.After(time.Minute):
			n.cmd.Process.Kill()
			<-n.exited
			errs = append(errs, fmt.Errorf("%s killed after a minute", n.name))
		}
	}
	if err := errors.Join(errs...); err != nil {
		fmt.Fprintln(os.Stderr, "up:", err)
	}
}

// killLeftovers kills the processes that an agent (deadPID) which died left behind,
// through the cgroups it made (their base is written in its data dir), so
// that up leaves nothing running. On a host without cgroups they live on.
func killLeftovers(dataDir string, deadPID int) {
	if b, err := os.ReadFile(filepath.Join(dataDir, "LOCK.pid")); err == nil {
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid != deadPID && syscall.Kill(pid, 0) == nil {
			return // an agent was started there again: the processes are its own
		}
	}
	b, err := os.ReadFile(filepath.Join(dataDir, "cgroup"))
	base := strings.TrimSpace(string(b))
	if err != nil || base == "" {
		return
	}
	entries, _ := os.ReadDir(base)
	for _, e := range entries {
		if e.IsDir() {
			os.WriteFile(filepath.Join(base, e.Name(), "cgroup.kill"), []byte("1"), 0)
		}
	}
}
