package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"syscall"

	"github.com/spf13/cobra"

	nefele "github.com/nefele/nefele/sdk"
)

func (c *cli) newLockCmd() *cobra.Command {
	var try bool
	cmd := &cobra.Command{
		Use:   "lock [--try] NAME -- CMD [ARGS...]",
		Short: "Run a command while holding a cluster-wide lock",
		Long: `lock takes the cluster-wide lock NAME (waiting in line while another holds
it), runs CMD here as its child with NEFELE_LOCK_TOKEN set to the lock's
fencing token, releases the lock when CMD ends and exits with CMD's exit
status, like flock(1). If this nefele process dies, however it dies, the
lock is released within the session's TTL (the agent's lease TTL, 3 s by
default); run from inside a managed process, the lock is that process's
and goes when it ends. SIGINT and SIGTERM are passed on to CMD.

With --try, lock does not wait: if NAME is held it exits 1 at once with
"lock NAME is held".`,
		Args: func(cmd *cobra.Command, args []string) error {
			dash := cmd.ArgsLenAtDash()
			if dash != 1 || len(args) < 2 {
				return usageErr(cmd, "lock: want NAME -- CMD [ARGS...], like: nefele lock deploy -- ./deploy.sh")
			}
			return nil
		},
		RunE: c.withClient(func(ctx context.Context, client *nefele.Client, args []string) error {
			return c.lockAndRun(ctx, client, try, args)
		}),
	}
	cmd.Flags().BoolVar(&try, "try", false, "exit 1 at once if the lock is held, instead of waiting")
	return cmd
}

// lockAndRun takes lock args[0] (or tries to), runs args[1:] while it is
// held, and releases it.
func (c *cli) lockAndRun(ctx context.Context, client *nefele.Client, try bool, args []string) error {
	m := client.Mutex(args[0])
	var token int64
	if try {
		held, t, err := m.TryLock(ctx)
		if err != nil {
			return err
		}
		if !held {
			return fmt.Errorf("lock %s is held", args[0])
		}
		token = t
	} else {
		lctx, stop := interruptible(ctx)
		t, err := m.Lock(lctx)
		stop()
		if err != nil {
			if lctx.Err() != nil && ctx.Err() == nil {
				return fmt.Errorf("lock %s: interrupted while waiting", args[0])
			}
			return err
		}
		token = t
	}
	status, err := c.runWhile(m.Lost(), "lock lost (its session expired)",
		"NEFELE_LOCK_TOKEN="+strconv.FormatInt(token, 10), args[1:])
	if uerr := m.Unlock(context.WithoutCancel(ctx)); uerr != nil && !errors.Is(uerr, nefele.ErrNotHeld) && err == nil {
		err = uerr
	}
	if err != nil {
		return err
	}
	return statusErr(status)
}

func (c *cli) newElectCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "elect NAME -- CMD [ARGS...]",
		Short: "Run a command only while leading an election",
		Long: `elect campaigns in the election NAME and, once it leads, runs CMD here as
its child with NEFELE_ELECTION_REVISION set to its term's revision (it
strictly increases from leader to leader). When CMD ends, elect resigns and
exits with CMD's status. If leadership is lost meanwhile (its session
expired: the cluster could not be reached within the lease TTL), CMD gets
SIGTERM. If this nefele process dies, the candidacy goes within the TTL,
and the next candidate leads. SIGINT and SIGTERM are passed on to CMD.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if cmd.ArgsLenAtDash() != 1 || len(args) < 2 {
				return usageErr(cmd, "elect: want NAME -- CMD [ARGS...], like: nefele elect scheduler -- ./cron-runner")
			}
			return nil
		},
		RunE: c.withClient(func(ctx context.Context, client *nefele.Client, args []string) error {
			e := client.Election(args[0])
			cctx, stop := interruptible(ctx)
			rev, err := e.Campaign(cctx, []byte(client.SelfGPID()))
			stop()
			if err != nil {
				if cctx.Err() != nil && ctx.Err() == nil {
					return fmt.Errorf("elect %s: interrupted while campaigning", args[0])
				}
				return err
			}
			status, err := c.runWhile(e.Lost(), "leadership lost (its session expired)",
				"NEFELE_ELECTION_REVISION="+strconv.FormatInt(rev, 10), args[1:])
			if rerr := e.Resign(context.WithoutCancel(ctx)); rerr != nil && !errors.Is(rerr, nefele.ErrNotHeld) && err == nil {
				err = rerr
			}
			if err != nil {
				return err
			}
			return statusErr(status)
		}),
	}
	return cmd
}

// runWhile runs argv as a child with env added to its environment,
// passing SIGINT and SIGTERM on, and returns its exit status (128+signal
// when a signal ended it). If lost is closed meanwhile (what it held is
// gone: why), the child is told with SIGTERM.
func (c *cli) runWhile(lost <-chan struct{}, why, env string, argv []string) (int, error) {
	child := exec.Command(argv[0], argv[1:]...)
	child.Stdin, child.Stdout, child.Stderr = c.stdin, c.stdout, c.stderr
	child.Env = append(os.Environ(), env)
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)
	if err := child.Start(); err != nil {
		if errors.Is(err, exec.ErrNotFound) {
			return exitNotFound, fmt.Errorf("lock: %s: command not found", argv[0])
		}
		return exitNotExecutable, fmt.Errorf("lock: %w", err)
	}
	done := make(chan struct{})
	go func() {
		for {
			select {
			case s := <-sigs:
				child.Process.Signal(s)
			case <-lost:
				fmt.Fprintf(c.stderr, "nefele: %s: stopping %s\n", why, argv[0])
				child.Process.Signal(syscall.SIGTERM)
				return
			case <-done:
				return
			}
		}
	}()
	err := child.Wait()
	close(done)
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal()), nil
		}
		return ee.ExitCode(), nil
	}
	return 0, err
}
