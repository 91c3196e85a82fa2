package cli

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/nefele/nefele/internal/agent"
)

func (c *cli) newDevCmd() *cobra.Command {
	cfg := agent.RunConfig{LogMaxBytes: 10 << 20, LogFiles: 3}
	cmd := &cobra.Command{
		Use:   "dev [--data-dir DIR] [--addr HOST:PORT]",
		Short: "Run a single-node agent in the foreground, for development",
		Long: `dev runs an agent that is its own one-node cluster, listening at --addr,
with its state in --data-dir (default $XDG_STATE_HOME/nefele, or
~/.local/state/nefele). It logs to stderr and runs until SIGINT or SIGTERM.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return c.runAgent(cmd, cfg) },
	}
	c.addAgentFlags(cmd, &cfg)
	return cmd
}

func (c *cli) newAgentCmd() *cobra.Command {
	cfg := agent.RunConfig{LogMaxBytes: 10 << 20, LogFiles: 3}
	cmd := &cobra.Command{
		Use:   "agent --data-dir DIR [--name NAME] [--addr HOST:PORT] [--advertise HOST:PORT] [--server] [--join ADDR[,ADDR...]] [--etcd-endpoints URL,...] [--labels k=v,...] [--cpu N] [--memory SIZE] [--max-procs N]",
		Short: "Run an agent of a node in the foreground",
		Long: `agent runs the agent of one node: the API at --addr, its processes, and an
embedded etcd member, with its state in --data-dir. --labels, --cpu, --memory
and --max-procs describe the node (capacity defaults to what the machine
has; --max-procs 0 means no limit): a spawn beyond --max-procs is refused.

Without --join the agent starts a new cluster of its own, with an embedded
etcd member. With --join ADDR (the API address of any agent of a cluster) it
joins that cluster: with --server as an etcd member (added as a learner,
promoted once in sync; at most 5 members vote, later servers join as
workers and say so), otherwise as a worker, an etcd client of the members.
A restarted agent finds its role in its data dir and needs no --join.
With --etcd-endpoints the agent embeds no member and keeps the cluster's
state in that existing etcd; every agent of such a cluster is given the same
endpoints.

The embedded member listens on the host of --addr; other nodes are told the
host of --advertise. Give --advertise when --addr is 0.0.0.0, or when the
address others reach differs (NAT).`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cfg.DataDir == "" {
				return usageErr(cmd, "agent: missing --data-dir DIR (each agent needs a data dir of its own)")
			}
			return c.runAgent(cmd, cfg)
		},
	}
	c.addAgentFlags(cmd, &cfg)
	fl := cmd.Flags()
	fl.StringVar(&cfg.Name, "name", "", "node `NAME` (default: the host name, kept in the data dir)")
	fl.BoolVar(&cfg.Server, "server", false, "join as an etcd member (a voter, up to 5)")
	fl.StringSliceVar(&cfg.Join, "join", nil, "API `ADDR`esses of agents of the cluster to join")
	fl.StringSliceVar(&cfg.EtcdEndpoints, "etcd-endpoints", nil, "`URL`s of an existing etcd cluster to use instead of embedded members")
	fl.Var(&durationValue{p: &cfg.LeaseTTL}, "lease-ttl", "node lease time to live: a node is down this long after its agent last renewed it (default 3s)")
	fl.Var(&durationValue{p: &cfg.FenceGrace}, "fence-grace", "after the lease expired without contact to the store, wait this long, then stop the processes the cluster replaces (default 1s)")
	fl.Var(&labelsValue{p: &cfg.Labels}, "labels", "node labels, like zone=eu,disk=ssd")
	fl.Var(&intValue{p: &cfg.CPU, min: 0, hint: "want a number of CPUs, 1 or more (0: the machine's)"}, "cpu", "CPUs the node offers (default: the machine's)")
	fl.StringVar(&cfg.Memory, "memory", "", "memory the node offers, like 8Gi or 16G (default: the machine's)")
	fl.Var(&intValue{p: &cfg.MaxProcs, min: 0, hint: "want a number of processes, 0 (no limit) or more"}, "max-procs", "most processes the node runs at once (default: no limit)")
	return cmd
}

func (c *cli) runAgent(cmd *cobra.Command, cfg agent.RunConfig) error {
	if cfg.DataDir == "" {
		cfg.DataDir = defaultDataDir(c.getenv)
	}
	ctx, stop := interruptible(cmd.Context())
	defer stop()
	cfg.Addr = c.addr
	cfg.Logger = slog.New(slog.NewTextHandler(c.stderr, nil))
	if c.cpuProfile != "" {
		f, err := os.Create(c.cpuProfile)
		if err != nil {
			return fmt.Errorf("--cpu-profile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("--cpu-profile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	return agent.Run(ctx, cfg)
}

// addAgentFlags adds the flags that dev and agent share.
func (c *cli) addAgentFlags(cmd *cobra.Command, cfg *agent.RunConfig) {
	fl := cmd.Flags()
	fl.StringVar(&cfg.DataDir, "data-dir", "", "`DIR` of the agent's state")
	fl.StringVar(&c.cpuProfile, "cpu-profile", "", "write a CPU profile of the agent to `FILE` until it stops (for `go tool pprof`)")
	fl.MarkHidden("cpu-profile")
	fl.StringVar(&cfg.Advertise, "advertise", "", "`HOST:PORT` other nodes reach this agent at (default --addr; needed when --addr is 0.0.0.0)")
	fl.Var(&sizeValue{p: &cfg.LogMaxBytes}, "log-max-size", "rotate a process's stdout or stderr log past this size")
	fl.Var(&intValue{p: &cfg.LogFiles, min: 1, hint: "want a number of files, 1 or more"}, "log-files", "log files kept per stream, the live one included")
	fl.Var(&durationValue{p: &cfg.LogCheckEvery}, "log-check-interval", "how often log sizes are checked (default 2s)")
	fl.MarkHidden("log-check-interval")
	fl.Var(&durationValue{p: &cfg.Retention}, "retention", "keep the record and logs of an ended process this long (default 24h)")
	fl.Var(&durationValue{p: &cfg.GCEvery}, "gc-interval", "how often ended processes are looked at (default 1m)")
	fl.MarkHidden("gc-interval")
}

// defaultDataDir is $XDG_STATE_HOME/nefele, else ~/.local/state/nefele, else
// $TMPDIR/nefele-UID when there is no home.
func defaultDataDir(getenv func(string) string) string {
	if dir := getenv("XDG_STATE_HOME"); filepath.IsAbs(dir) {
		return filepath.Join(dir, "nefele")
	}
	if home := getenv("HOME"); home != "" {
		return filepath.Join(home, ".local", "state", "nefele")
	}
	return filepath.Join(os.TempDir(), "nefele-"+strconv.Itoa(os.Getuid()))
}
