package cli

import (
	"context"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	nefelev1 "github.com/nefele/nefele/api/nefele/v1"
	nefele "github.com/nefele/nefele/sdk"
)

// procsCall is an SDK call on the processes a target resolves to; its
// arguments are in the order of a method expression like (*nefele.Client).Wait.
type procsCall func(client *nefele.Client, ctx context.Context, target string) ([]*nefele.Process, error)

// newProcsCmd makes a command that calls call on its target and prints the
// GPIDs of the processes it acted on (records with -o json).
func (c *cli) newProcsCmd(use, short, long string, call procsCall) *cobra.Command {
	return &cobra.Command{
		Use: use, Short: short, Long: long, Args: targetArg,
		RunE: func(cmd *cobra.Command, args []string) error {
			procs, err := c.callTarget(cmd.Context(), args[0], call)
			if err != nil {
				return err
			}
			return c.printProcs(procs)
		},
	}
}

// callTarget dials the agent and runs call on target.
func (c *cli) callTarget(ctx context.Context, target string, call procsCall) ([]*nefele.Process, error) {
	client, err := c.dial()
	if err != nil {
		return nil, err
	}
	defer client.Close()
	return call(client, ctx, target)
}

func (c *cli) newKillCmd() *cobra.Command {
	sig := "TERM"
	cmd := c.newProcsCmd("kill [-s SIGNAL] GPID|NAME", "Send a signal to processes",
		`kill sends SIGNAL (default TERM) to the whole process tree of every process
the target resolves to, and prints their GPIDs. SIGNAL is a name (TERM,
SIGTERM) or a number (15). The restart policy still applies.`,
		func(client *nefele.Client, ctx context.Context, target string) ([]*nefele.Process, error) {
			return client.Signal(ctx, target, sig)
		})
	cmd.Flags().StringVarP(&sig, "signal", "s", sig, "`SIGNAL` to send, by name or number")
	return cmd
}

func (c *cli) newStopCmd() *cobra.Command {
	var timeout time.Duration
	cmd := c.newProcsCmd("stop [--timeout DUR] GPID|NAME", "Stop processes for good",
		`stop sends the stop signal to every process the target resolves to, waits
the grace (its --stop-timeout, or --timeout) and then SIGKILLs what is left.
It returns once they have ended and prints their GPIDs; they are not restarted.`,
		func(client *nefele.Client, ctx context.Context, target string) ([]*nefele.Process, error) {
			return client.Stop(ctx, target, timeout)
		})
	cmd.Flags().Var(&durationValue{p: &timeout}, "timeout", "grace before SIGKILL (default the process's --stop-timeout)")
	return cmd
}

func (c *cli) newRestartCmd() *cobra.Command {
	return c.newProcsCmd("restart GPID|NAME", "Restart processes in place",
		`restart stops every process the target resolves to and starts it again with
the same GPID, and prints their GPIDs.`,
		(*nefele.Client).Restart)
}

func (c *cli) newWaitCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "wait GPID|NAME",
		Short: "Wait for processes to end and exit with their status",
		Long: `wait blocks until every process the target resolves to has ended for good,
then exits with its status, as a shell would: the exit code, or 128+N when
signal N ended it (128 for a signal it cannot number). A process that could
not start gives 127 (command not found), 126 (not executable) or 1. A failed or
lost process, or one whose status is unknown (it ended while its agent was
down), gives 1 unless it exited with a non-zero code. For a group, wait exits
with the first non-zero status in GPID order.

It prints nothing, or with -o json the final records.`,
		Args: targetArg,
		RunE: func(cmd *cobra.Command, args []string) error {
			procs, err := c.callTarget(cmd.Context(), args[0], (*nefele.Client).Wait)
			if err != nil {
				return err
			}
			if c.json() {
				if err := writeJSON(c.stdout, toProcessesJSON(procs)); err != nil {
					return err
				}
			}
			return statusErr(groupStatus(procs))
		},
	}
}

// groupStatus is the first non-zero shellStatus of procs, or 0.
func groupStatus(procs []*nefele.Process) int {
	for _, p := range procs {
		if st := shellStatus(p); st != 0 {
			return st
		}
	}
	return 0
}

// shellStatus is the status a shell would give for how p ended; see the
// help of wait.
func shellStatus(p *nefele.Process) int {
	switch p.GetFailure() {
	case nefelev1.Reason_REASON_EXECUTABLE_NOT_FOUND:
		return exitNotFound
	case nefelev1.Reason_REASON_NOT_EXECUTABLE:
		return exitNotExecutable
	}
	if sig := p.GetSignal(); sig != "" {
		return 128 + signalNumber(sig)
	}
	code := int(p.GetExitCode())
	if code > 0 || (code == 0 && p.GetState() == nefelev1.State_STATE_EXITED) {
		return code
	}
	return exitFailure
}

// signalNumber returns the number of the signal named sig ("KILL", "SIGKILL"
// or "9"), or 0 when it is unknown.
func signalNumber(sig string) int {
	if n, err := strconv.Atoi(sig); err == nil && n > 0 && n < 128 {
		return n
	}
	name := "SIG" + strings.TrimPrefix(strings.ToUpper(sig), "SIG")
	return int(unix.SignalNum(name))
}

func (c *cli) newInspectCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "inspect GPID|NAME",
		Short: "Print the whole record of processes as JSON",
		Long: `inspect prints the records the target resolves to as JSON, whatever -o says:
one object for one process, an array for a group. Each has the keys of
"ps -o json" and next_restart_at, failure and spec (command, env, workdir,
restart, max_restarts, stop_signal, stop_timeout_ms, stdin_from).`,
		Args: targetArg,
		RunE: func(cmd *cobra.Command, args []string) error {
			procs, err := c.callTarget(cmd.Context(), args[0], (*nefele.Client).Get)
			if err != nil {
				return err
			}
			if len(procs) == 1 {
				return writeJSON(c.stdout, toInspectJSON(procs[0]))
			}
			out := make([]inspectJSON, 0, len(procs))
			for _, p := range procs {
				out = append(out, toInspectJSON(p))
			}
			return writeJSON(c.stdout, out)
		},
	}
}

// inspectJSON is the whole record of a process, as inspect prints it.
type inspectJSON struct {
	processJSON
	NextRestartAt string   `json:"next_restart_at"`
	Failure       string   `json:"failure"`
	Spec          specJSON `json:"spec"`
}

// specJSON is the JSON form of a spec.
type specJSON struct {
	Command       []string `json:"command"`
	Env           []string `json:"env"`
	Workdir       string   `json:"workdir"`
	Restart       string   `json:"restart"`
	MaxRestarts   int32    `json:"max_restarts"`
	StopSignal    string   `json:"stop_signal"`
	StopTimeoutMs int64    `json:"stop_timeout_ms"`
	StdinFrom     string   `json:"stdin_from"`
}

func toInspectJSON(p *nefele.Process) inspectJSON {
	s := p.GetSpec()
	return inspectJSON{
		processJSON: toProcessJSON(p), NextRestartAt: p.GetNextRestartAt(), Failure: reasonWord(p.GetFailure()),
		Spec: specJSON{
			Command: nonNil(s.GetCommand()), Env: nonNil(s.GetEnv()), Workdir: s.GetWorkdir(),
			Restart: restartWord(s.GetRestart()), MaxRestarts: s.GetMaxRestarts(),
			StopSignal: s.GetStopSignal(), StopTimeoutMs: s.GetStopTimeoutMs(), StdinFrom: s.GetStdinFrom(),
		},
	}
}

// restartWord is p as --restart spells it, or "" when unspecified.
func restartWord(p nefelev1.RestartPolicy) string {
	for word, policy := range restartPolicies {
		if policy == p {
			return word
		}
	}
	return strconv.Itoa(int(p))
}

// interruptible returns a context that is also cancelled on SIGINT or
// SIGTERM, for commands that follow a stream until Ctrl-C.
func interruptible(ctx context.Context) (context.Context, context.CancelFunc) {
	return signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
}
