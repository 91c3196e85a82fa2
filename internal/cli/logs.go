package cli

import (
	"github.com/spf13/cobra"

	nefele "github.com/nefele/nefele/sdk"
)

// logsFlags are the flags of logs.
type logsFlags struct {
	follow         bool
	tail           int
	stdout, stderr bool
}

func (c *cli) newLogsCmd() *cobra.Command {
	f := &logsFlags{tail: -1}
	cmd := &cobra.Command{
		Use:   "logs [-f] [--tail N] [--stdout|--stderr] GPID|NAME",
		Short: "Print what a process wrote to stdout and stderr",
		Long: `logs prints what the process wrote: its stdout on stdout and its stderr on
stderr. -f goes on with new output until the process ends for good, or until
Ctrl-C. --tail N starts with the last N lines of each stream.`,
		Args: targetArg,
		RunE: func(cmd *cobra.Command, args []string) error { return c.logs(cmd, f, args[0]) },
	}
	fl := cmd.Flags()
	fl.BoolVarP(&f.follow, "follow", "f", false, "follow new output")
	fl.Var(&intValue{p: &f.tail, min: -1, hint: "want a number of lines, 0 or more, or -1 for all"}, "tail",
		"show the last N lines of each stream; -1 shows all")
	fl.BoolVar(&f.stdout, "stdout", false, "only stdout")
	fl.BoolVar(&f.stderr, "stderr", false, "only stderr")
	return cmd
}

func (c *cli) logs(cmd *cobra.Command, f *logsFlags, target string) error {
	if f.stdout && f.stderr {
		return usageErr(cmd, "logs: --stdout and --stderr are mutually exclusive; give neither for both streams")
	}
	opts := nefele.LogsOptions{Follow: f.follow, Tail: f.tail, NewOnly: f.tail == 0, Stream: nefele.LogBoth}
	switch {
	case f.stdout:
		opts.Stream = nefele.LogStdout
	case f.stderr:
		opts.Stream = nefele.LogStderr
	}
	client, err := c.dial()
	if err != nil {
		return err
	}
	defer client.Close()
	ctx, stop := interruptible(cmd.Context())
	defer stop()
	err = client.Logs(ctx, target, opts, c.stdout, c.stderr)
	if ctx.Err() != nil {
		return nil // interrupted: following ends
	}
	return err
}
