package cli

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	nefele "github.com/nefele/nefele/sdk"
)

// defaultMessageTimeout bounds send's wait for room and call's for a reply.
const defaultMessageTimeout = 5 * time.Second

// dialRelay returns a client whose Send and Call go through its agent:
// the CLI may run where the cluster's processes cannot be reached.
func (c *cli) dialRelay() (*nefele.Client, error) {
	client, err := nefele.Dial(c.addr, nefele.WithToken(c.getenv(nefele.EnvToken)), nefele.WithRelay())
	if err != nil {
		return nil, usageErr(nil, "invalid --addr %q: use HOST:PORT, like %s, or http://HOST:PORT", c.addr, nefele.DefaultAddr)
	}
	return client, nil
}

func messageArgs(cmd *cobra.Command, args []string) error {
	if len(args) != 2 || args[0] == "" {
		return usageErr(cmd, "%s: want TARGET MESSAGE (a GPID or registered name, and the message, or - to read it from stdin)", cmd.Name())
	}
	return checkUTF8(args)
}

// message returns the MESSAGE argument: - reads it from stdin.
func (c *cli) message(arg string) ([]byte, error) {
	if arg != "-" {
		return []byte(arg), nil
	}
	b, err := io.ReadAll(c.stdin)
	if err != nil {
		return nil, fmt.Errorf("read the message from stdin: %w", err)
	}
	return b, nil
}

// positive rejects a --timeout of 0, which would fail every call at once.
func positive(cmd *cobra.Command, timeout time.Duration) error {
	if timeout <= 0 {
		return usageErr(cmd, "%s: invalid --timeout 0: want a duration above 0, like 500ms or 10s", cmd.Name())
	}
	return nil
}

func (c *cli) newSendCmd() *cobra.Command {
	var failFast bool
	timeout := defaultMessageTimeout
	cmd := &cobra.Command{
		Use:   "send [--fail-fast] [--timeout DUR] TARGET MESSAGE|-",
		Short: "Put a message in the mailbox of a process",
		Long: `send puts MESSAGE in the mailbox of TARGET (a GPID, a registered name, or the
name of a single process), through the agent; - reads MESSAGE from stdin.
When the mailbox is full, or the process has not opened it yet, send waits
up to --timeout, or fails at once with --fail-fast. Delivery is at most
once: success means the message left for a live mailbox.`,
		Args: messageArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.withMessage(cmd, timeout, args, func(ctx context.Context, client *nefele.Client, msg []byte) error {
				return client.Send(ctx, args[0], msg, nefele.SendOptions{FailFast: failFast})
			})
		},
	}
	cmd.Flags().BoolVar(&failFast, "fail-fast", false, "fail at once when the mailbox is full, instead of waiting")
	cmd.Flags().Var(&durationValue{p: &timeout}, "timeout", "how long to wait for room or for the mailbox")
	return cmd
}

func (c *cli) newCallCmd() *cobra.Command {
	timeout := defaultMessageTimeout
	cmd := &cobra.Command{
		Use:   "call [--timeout DUR] TARGET MESSAGE|-",
		Short: "Send a request to a process and print its reply",
		Long: `call sends MESSAGE to TARGET (a GPID, a registered name, or the name of a
single process) as a call, through the agent, and prints the reply; - reads
MESSAGE from stdin. It fails when no reply comes within --timeout, and at
once when the callee ends.`,
		Args: messageArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.withMessage(cmd, timeout, args, func(ctx context.Context, client *nefele.Client, msg []byte) error {
				reply, err := client.Call(ctx, args[0], msg)
				if err == nil {
					fmt.Fprintf(c.stdout, "%s\n", reply)
				}
				return err
			})
		},
	}
	cmd.Flags().Var(&durationValue{p: &timeout}, "timeout", "how long to wait for the reply")
	return cmd
}

// withMessage runs fn with a relaying client, the MESSAGE of args and a
// context bounded by timeout.
func (c *cli) withMessage(cmd *cobra.Command, timeout time.Duration, args []string, fn func(context.Context, *nefele.Client, []byte) error) error {
	if err := positive(cmd, timeout); err != nil {
		return err
	}
	msg, err := c.message(args[1])
	if err != nil {
		return err
	}
	client, err := c.dialRelay()
	if err != nil {
		return err
	}
	defer client.Close()
	ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
	defer cancel()
	return fn(ctx, client, msg)
}
