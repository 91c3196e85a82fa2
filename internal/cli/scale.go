package cli

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	nefele "github.com/nefele/nefele/sdk"
)

// settleWait is how long scale and drain wait for the cluster to settle;
// the agent stops waiting after a minute.
const settleWait = 70 * time.Second

func (c *cli) newScaleCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "scale GROUP N",
		Short: "Set how many members a group keeps",
		Long: `scale sets how many members GROUP (a name run with --replicas) keeps. The
cluster's reconciler starts new members, spread over the nodes, or stops the
newest members first, gracefully (their stop signal and grace). scale waits
until the group has N members and none is starting or stopping (at most a
minute), then prints the members like ps (records with -o json).`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 2 {
				return usageErr(cmd, "scale: want GROUP and a count, like: nefele scale web 3")
			}
			if n, err := strconv.Atoi(args[1]); err != nil || n < 0 {
				return usageErr(cmd, "scale: invalid count %q: want a whole number, 0 or more", args[1])
			}
			return nil
		},
		RunE: c.withClient(func(ctx context.Context, client *nefele.Client, args []string) error {
			n, _ := strconv.Atoi(args[1])
			ctx, cancel := context.WithTimeout(ctx, settleWait)
			defer cancel()
			procs, err := client.Scale(ctx, args[0], n)
			if err != nil {
				return err
			}
			return c.printPs(procs)
		}),
	}
}

func (c *cli) newDrainCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "drain NODE",
		Short: "Move every process off a node and keep new ones away",
		Long: `drain marks NODE unschedulable and moves its processes away: each group
member, and each process whose restart policy is not never, gets a
replacement (a new GPID, the same name and group) on another node, and is
stopped, gracefully, once the replacement runs; the other processes are
stopped. Processes run by exec stay until their session ends, and so do
processes that no other node can take (constraints, capacity, or no other
node). drain waits until the node is empty, or only such processes are left
(at most a minute), and lists what is left on it.
undrain makes the node take new processes again.`,
		Args: nodeArg,
		RunE: c.withClient(func(ctx context.Context, client *nefele.Client, args []string) error {
			ctx, cancel := context.WithTimeout(ctx, settleWait)
			defer cancel()
			left, err := client.Drain(ctx, args[0])
			if err != nil {
				return err
			}
			if c.json() {
				return c.printPs(left)
			}
			if len(left) == 0 {
				fmt.Fprintf(c.stdout, "node %s drained: no processes left on it\n", args[0])
				return nil
			}
			fmt.Fprintf(c.stdout, "node %s drained, but %d still on it: exec sessions (they end with their caller), or processes no other node can take (see nefele nodes):\n", args[0], len(left))
			return c.printPs(left)
		}),
	}
}

func (c *cli) newUndrainCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "undrain NODE",
		Short: "Let a drained node take new processes again",
		Long:  `undrain makes NODE, drained before, schedulable again. Processes moved away stay where they went.`,
		Args:  nodeArg,
		RunE: c.withClient(func(ctx context.Context, client *nefele.Client, args []string) error {
			if err := client.Undrain(ctx, args[0]); err != nil {
				return err
			}
			if !c.json() {
				fmt.Fprintf(c.stdout, "node %s takes new processes again\n", args[0])
			}
			return nil
		}),
	}
}

// nodeArg is the Args of a command that takes one NODE.
func nodeArg(cmd *cobra.Command, args []string) error {
	if len(args) != 1 {
		return usageErr(cmd, "%s: want one NODE, like: nefele %s n2 (see nefele nodes)", cmd.Name(), cmd.Name())
	}
	return nil
}

// withClient makes a RunE that dials the agent and runs fn with a client.
func (c *cli) withClient(fn func(ctx context.Context, client *nefele.Client, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		client, err := c.dial()
		if err != nil {
			return err
		}
		defer client.Close()
		return fn(cmd.Context(), client, args)
	}
}
