package cli

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	nefelev1 "github.com/nefele/nefele/api/nefele/v1"
	nefele "github.com/nefele/nefele/sdk"
)

// restartPolicies maps the words of --restart to the API's policies.
var restartPolicies = map[string]nefelev1.RestartPolicy{
	"":           nefelev1.RestartPolicy_RESTART_POLICY_UNSPECIFIED,
	"never":      nefelev1.RestartPolicy_RESTART_POLICY_NEVER,
	"on-failure": nefelev1.RestartPolicy_RESTART_POLICY_ON_FAILURE,
	"always":     nefelev1.RestartPolicy_RESTART_POLICY_ALWAYS,
}

// runFlags are the flags of run.
type runFlags struct {
	name        string
	replicas    int
	restart     string
	maxRestarts int
	env         []string
	workdir     string
	stopSignal  string
	stopTimeout time.Duration
	place       placeFlags
	ports       []string
	stdinFrom   string
}

func (c *cli) newRunCmd() *cobra.Command {
	f := &runFlags{}
	cmd := &cobra.Command{
		Use:   "run [flags] -- CMD [ARGS...]",
		Short: "Start a process, or a group of replicas, in the background",
		Long: `run starts CMD on the cluster and prints the GPID of each new process, one
a line, as soon as it runs; with -o json it prints their records instead.

Flags stop at the command: "nefele run --name web python -m http.server" needs
no --, but -- makes the intent plain.

With --stdin-from, CMD reads on its stdin the stdout of another process, on
any node, from its first byte and as it comes, and reads EOF once that
process has ended for good: stages of a pipeline on different nodes.

  nefele run --name gen -- seq 1000000
  nefele run --name sum --stdin-from gen -- awk '{s+=$1} END {print s}'

When a process cannot start, its GPID is printed all the same, the error goes
to stderr and run exits 127 (command not found), 126 (not executable) or 1.`,
		Args: commandArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return c.run(cmd, f, args) },
	}
	cmd.Flags().SetInterspersed(false)
	fl := cmd.Flags()
	fl.StringVar(&f.name, "name", "", "`NAME` of the process, or of the group with --replicas")
	fl.Var(&intValue{p: &f.replicas, min: 1, hint: "want a number of replicas, 1 or more"}, "replicas",
		"make a group of N replicas")
	fl.Var(newEnumValue(&f.restart, "never", "on-failure", "always"), "restart",
		"restart policy (default never for one process, always for a group)")
	fl.Var(&intValue{p: &f.maxRestarts, hint: "want a number of restarts, 0 (no bound) or more"}, "max-restarts",
		"fail the process after N restarts; 0 means no bound")
	fl.Var(&envValue{p: &f.env}, "env", "add KEY=VALUE to the environment (repeatable)")
	fl.StringVar(&f.workdir, "workdir", "", "working `DIR` (default the agent's)")
	fl.StringVar(&f.stopSignal, "stop-signal", "", "`SIG` that stop sends first, like TERM or INT (default TERM)")
	fl.Var(&durationValue{p: &f.stopTimeout}, "stop-timeout", "grace between the stop signal and SIGKILL (default 10s)")
	fl.StringArrayVar(&f.ports, "port", nil, "a TCP port `NAME` the process listens on: it gets a free port in NEFELE_PORT_<NAME>, published once it accepts (repeatable)")
	fl.StringVar(&f.stdinFrom, "stdin-from", "", "feed the stdout of the process `GPID|NAME` to stdin, from its first byte, following it; EOF once it has ended")
	f.place.add(cmd)
	return cmd
}

func (c *cli) run(cmd *cobra.Command, f *runFlags, args []string) error {
	if len(args) == 0 {
		return missingCommand(cmd)
	}
	spec := &nefele.Spec{
		Command: args, Env: f.env, Workdir: f.workdir, Restart: restartPolicies[f.restart],
		MaxRestarts: int32(f.maxRestarts), StopSignal: f.stopSignal, StopTimeoutMs: f.stopTimeout.Milliseconds(),
	}
	f.place.apply(spec)
	if strings.HasPrefix(f.stdinFrom, "-") {
		return usageErr(cmd, "run: invalid --stdin-from %q: want the GPID or name of the process whose stdout to read", f.stdinFrom)
	}
	spec.Ports, spec.StdinFrom = f.ports, f.stdinFrom
	client, err := c.dial()
	if err != nil {
		return err
	}
	defer client.Close()
	procs, err := client.Spawn(cmd.Context(), spec, nefele.SpawnOptions{Name: f.name, Replicas: f.replicas})
	if err != nil && len(procs) == 0 {
		return err
	}
	if perr := c.printProcs(procs); perr != nil && err == nil {
		err = perr
	}
	return err
}

// printProcs prints the GPIDs of procs one a line, or with -o json their
// records; nothing at all when there are none and the output is a table.
func (c *cli) printProcs(procs []*nefele.Process) error {
	if c.json() {
		return writeJSON(c.stdout, toProcessesJSON(procs))
	}
	for _, p := range procs {
		if _, err := fmt.Fprintln(c.stdout, p.GetGpid()); err != nil {
			return err
		}
	}
	return nil
}
