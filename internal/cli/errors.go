package cli

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	nefele "github.com/nefele/nefele/sdk"
)

// The exit codes of the command line, besides those of processes.
const (
	exitOK            = 0
	exitFailure       = 1
	exitUsage         = 2
	exitNotExecutable = 126
	exitNotFound      = 127
)

// usageError is bad usage: an unknown flag, a bad flag value, a missing
// argument. It exits 2 after a hint, or the whole usage when showUsage.
type usageError struct {
	cmd       *cobra.Command // nil: the command that failed
	err       error
	showUsage bool
}

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

func usageErr(cmd *cobra.Command, format string, args ...any) error {
	return &usageError{cmd: cmd, err: fmt.Errorf(format, args...)}
}

// flagError is the root's flag error func: pflag's message names the flag,
// the value and, through our flag values, the allowed form.
func flagError(cmd *cobra.Command, err error) error {
	return &usageError{cmd: cmd, err: fmt.Errorf("%s: %w", cmd.Name(), err)}
}

// runError marks an error returned by a command's RunE, as opposed to one
// cobra returns before running anything (unknown command, flag groups),
// which is a usage error.
type runError struct{ err error }

func (e *runError) Error() string { return e.err.Error() }
func (e *runError) Unwrap() error { return e.err }

// exitStatus ends the command line with a process's status, silently.
type exitStatus int

func (s exitStatus) Error() string { return fmt.Sprintf("exit status %d", int(s)) }

// statusErr returns nil for status 0, so that success stays success.
func statusErr(status int) error {
	if status == 0 {
		return nil
	}
	return exitStatus(status)
}

// markRunErrors wraps the RunE of cmd and its subcommands so that their
// errors are told from cobra's own.
func markRunErrors(cmd *cobra.Command) {
	if run := cmd.RunE; run != nil {
		cmd.RunE = func(cmd *cobra.Command, args []string) error {
			if err := run(cmd, args); err != nil {
				return &runError{err: err}
			}
			return nil
		}
	}
	for _, sub := range cmd.Commands() {
		markRunErrors(sub)
	}
}

// exit reports err, if any, and returns the exit code it stands for.
func (c *cli) exit(cmd *cobra.Command, err error) int {
	if err == nil {
		return exitOK
	}
	var st exitStatus
	if errors.As(err, &st) {
		return int(st)
	}
	var ue *usageError
	if errors.As(err, &ue) {
		c.reportUsage(cmd, ue)
		return exitUsage
	}
	var re *runError
	if !errors.As(err, &re) {
		c.reportUsage(cmd, &usageError{err: err})
		return exitUsage
	}
	c.report(err)
	return exitCode(err)
}

// exitCode is the exit code of a failed command: 127 and 126 like a shell
// for a command that cannot be found or executed, 1 for anything else.
func exitCode(err error) int {
	switch {
	case errors.Is(err, nefele.ErrNotFound):
		return exitNotFound
	case errors.Is(err, nefele.ErrNotExecutable):
		return exitNotExecutable
	}
	return exitFailure
}

// report prints err on stderr: "nefele: message", or with -o json an
// agent's error as {"error": message, "reason": reason}.
func (c *cli) report(err error) {
	var ne *nefele.Error
	if c.json() && errors.As(err, &ne) {
		writeJSONLine(c.stderr, map[string]string{"error": ne.Message, "reason": ne.ReasonString()})
		return
	}
	fmt.Fprintf(c.stderr, "nefele: %v\n", err)
}

// reportUsage prints a usage error and a hint, or the whole usage.
func (c *cli) reportUsage(cmd *cobra.Command, ue *usageError) {
	if ue.cmd != nil {
		cmd = ue.cmd
	}
	fmt.Fprintf(c.stderr, "nefele: %v\n", ue.err)
	if cmd == nil {
		return
	}
	if ue.showUsage {
		fmt.Fprint(c.stderr, cmd.UsageString())
		return
	}
	fmt.Fprintf(c.stderr, "Run '%s --help' for usage.\n", cmd.CommandPath())
}

// targetArg is the Args of commands that take one GPID or NAME.
func targetArg(cmd *cobra.Command, args []string) error {
	switch {
	case len(args) == 0:
		return usageErr(cmd, "%s: missing GPID or NAME", cmd.Name())
	case len(args) > 1:
		return usageErr(cmd, "%s: want one GPID or NAME, got %d arguments", cmd.Name(), len(args))
	}
	return nil
}

// noArgs is the Args of commands that take no argument.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usageErr(cmd, "%s: unexpected argument %q", cmd.Name(), args[0])
	}
	return nil
}

// commandArgs is the Args of run and exec: the command is checked in RunE,
// where an empty one prints the whole usage.
func commandArgs(*cobra.Command, []string) error { return nil }

// missingCommand is the error of run and exec without a command.
func missingCommand(cmd *cobra.Command) error {
	return &usageError{cmd: cmd, err: fmt.Errorf("%s: missing command: give it after --", cmd.Name()), showUsage: true}
}
