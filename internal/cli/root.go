package cli

import (
	"context"
	"io"
	"os"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"

	nefele "github.com/nefele/nefele/sdk"
)

// Version is the version of this nefele client.
const Version = "0.1.0-dev"

// App is one run of the command line with its streams and environment; tests
// make one with buffers in place of the terminal. The zero value reads an
// empty stdin, discards output and reads the real environment.
type App struct {
	// Stdin is read by exec -i; nil reads nothing.
	Stdin io.Reader
	// Stdout and Stderr receive output and diagnostics; nil discards them.
	Stdout, Stderr io.Writer
	// Getenv looks up environment variables (NEFELE_ADDR, HOME,
	// XDG_STATE_HOME); nil means os.Getenv.
	Getenv func(string) string
	// Now is the clock that ages are measured with; nil means time.Now.
	Now func() time.Time
}

// Main runs the command line with args (without the program name) on the
// process's own streams and environment, and returns the exit code.
func Main(args []string) int {
	a := &App{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv}
	return a.Run(context.Background(), args)
}

// Run runs the command line with args (without the program name) and returns
// the exit code. It never calls os.Exit. Commands that follow a stream (logs
// -f, events -f) and dev stop when ctx is done or on SIGINT/SIGTERM; exec
// forwards those signals to its process instead. Run may be called several
// times, from several goroutines, on one App.
func (a *App) Run(ctx context.Context, args []string) int {
	c := newCLI(a)
	root := c.newRoot()
	if err := checkUTF8(args); err != nil {
		return c.exit(root, err)
	}
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(ctx)
	return c.exit(cmd, err)
}

// cli is the state of one Run: the App with its defaults filled in and the
// global flags.
type cli struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
	cpuProfile     string // dev and agent: where to write a CPU profile
	now            func() time.Time

	addr   string // --addr
	output string // -o
}

func newCLI(a *App) *cli {
	c := &cli{stdin: a.Stdin, stdout: a.Stdout, stderr: a.Stderr, getenv: a.Getenv, now: a.Now, output: outTable}
	if c.stdin == nil {
		c.stdin = strings.NewReader("")
	}
	if c.stdout == nil {
		c.stdout = io.Discard
	}
	if c.stderr == nil {
		c.stderr = io.Discard
	}
	if c.getenv == nil {
		c.getenv = os.Getenv
	}
	if c.now == nil {
		c.now = time.Now
	}
	return c
}

func (c *cli) newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:   "nefele",
		Short: "Run and manage processes on a Nefele cluster",
		Long: `nefele runs processes on a Nefele cluster and manages them: every process
gets a global process id (GPID, like p42) and may have a name; commands that
take a target accept either.

Start a local agent with "nefele dev", then "nefele run -- sleep 60".`,
		Version:       Version,
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	root.SetIn(c.stdin)
	root.SetOut(c.stdout)
	root.SetErr(c.stderr)
	root.SetFlagErrorFunc(flagError)
	addr := c.getenv(nefele.EnvAddr)
	if addr == "" {
		addr = nefele.DefaultAddr
	}
	pf := root.PersistentFlags()
	pf.StringVar(&c.addr, "addr", addr, "agent address `HOST:PORT` (env "+nefele.EnvAddr+")")
	pf.VarP(newEnumValue(&c.output, outTable, outJSON), "output", "o", "output format")
	root.AddCommand(c.newRunCmd(), c.newExecCmd(), c.newPsCmd(), c.newLogsCmd(),
		c.newWaitCmd(), c.newKillCmd(), c.newStopCmd(), c.newRestartCmd(), c.newInspectCmd(),
		c.newNodesCmd(), c.newKVCmd(), c.newNamesCmd(), c.newPortsCmd(), c.newForwardCmd(), c.newSendCmd(), c.newCallCmd(), c.newLockCmd(), c.newElectCmd(), c.newScaleCmd(), c.newDrainCmd(), c.newUndrainCmd(), c.newEventsCmd(), c.newVersionCmd(), c.newDevCmd(), c.newAgentCmd(), c.newUpCmd())
	markRunErrors(root)
	return root
}

// checkUTF8 rejects arguments that are not UTF-8: the API carries
// commands, names and values as protobuf strings, which must be.
func checkUTF8(args []string) error {
	for _, arg := range args {
		if !utf8.ValidString(arg) {
			return usageErr(nil, "argument %q is not valid UTF-8; the API carries only UTF-8 text", arg)
		}
	}
	return nil
}

// dial returns a client of the agent at --addr; the caller closes it.
func (c *cli) dial() (*nefele.Client, error) {
	// Inside a managed process, the CLI calls as that process.
	client, err := nefele.Dial(c.addr, nefele.WithToken(c.getenv(nefele.EnvToken)))
	if err != nil {
		return nil, usageErr(nil, "invalid --addr %q: use HOST:PORT, like %s, or http://HOST:PORT", c.addr, nefele.DefaultAddr)
	}
	return client, nil
}

// json reports whether -o json was given.
func (c *cli) json() bool { return c.output == outJSON }
