package cli

import (
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"
	"golang.org/x/term"

	nefele "github.com/nefele/nefele/sdk"
)

// The window size of a TTY when stdin is not a terminal.
const (
	defaultRows = 24
	defaultCols = 80
)

// execFlags are the flags of exec.
type execFlags struct {
	interactive bool
	tty         bool
	env         []string
	workdir     string
	place       placeFlags
}

func (c *cli) newExecCmd() *cobra.Command {
	f := &execFlags{}
	cmd := &cobra.Command{
		Use:   "exec [flags] -- CMD [ARGS...]",
		Short: "Run a process attached to this terminal and exit with its status",
		Long: `exec runs CMD on the cluster attached to the caller: its stdout and stderr
arrive here, -i streams stdin to it, and SIGINT, SIGTERM, SIGHUP and SIGQUIT
are forwarded to it. exec exits with the process's status: its exit code, or
128+N when signal N ended it; 127 when CMD is not found, 126 when it is not
executable.

-t gives the process a pseudo-terminal (stdout and stderr then merge). When
stdin is a terminal its size is sent and kept up to date, and with -i it is put
in raw mode until exec ends; otherwise the terminal is 24x80.`,
		Args: commandArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return c.exec(cmd, f, args) },
	}
	cmd.Flags().SetInterspersed(false)
	fl := cmd.Flags()
	fl.BoolVarP(&f.interactive, "interactive", "i", false, "stream stdin to the process")
	fl.BoolVarP(&f.tty, "tty", "t", false, "give the process a pseudo-terminal")
	fl.Var(&envValue{p: &f.env}, "env", "add KEY=VALUE to the environment (repeatable)")
	fl.StringVar(&f.workdir, "workdir", "", "working `DIR` (default the agent's)")
	f.place.add(cmd)
	return cmd
}

func (c *cli) exec(cmd *cobra.Command, f *execFlags, args []string) error {
	if len(args) == 0 {
		return missingCommand(cmd)
	}
	client, err := c.dial()
	if err != nil {
		return err
	}
	defer client.Close()
	opts := nefele.ExecOptions{Stdout: c.stdout, Stderr: c.stderr}
	if f.interactive {
		opts.Stdin = c.stdin
	}
	tty := c.openTTY(f, &opts)
	defer tty.restore()
	spec := &nefele.Spec{Command: args, Env: f.env, Workdir: f.workdir}
	f.place.apply(spec)
	// Signals are caught before the process starts, so one sent as soon as
	// its first output arrives is held and forwarded, not fatal to exec.
	sigs := catchSignals(tty)
	defer sigs.stop()
	s, err := client.Exec(cmd.Context(), spec, opts)
	if err != nil {
		return err
	}
	sigs.forwardTo(s)
	st, err := s.Wait()
	if err != nil {
		return err
	}
	return statusErr(st.Status)
}

// ttyState is the local terminal of exec -t, when stdin is one.
type ttyState struct {
	fd    int
	isTTY bool        // stdin is a terminal
	saved *term.State // the mode to restore, when raw mode was entered
}

// openTTY fills the TTY fields of opts and, when stdin is a terminal and -i
// is given, puts it in raw mode.
func (c *cli) openTTY(f *execFlags, opts *nefele.ExecOptions) *ttyState {
	t := &ttyState{}
	if !f.tty {
		return t
	}
	opts.TTY, opts.Rows, opts.Cols = true, defaultRows, defaultCols
	t.fd, t.isTTY = terminalFd(c.stdin)
	if !t.isTTY {
		return t
	}
	opts.Rows, opts.Cols = t.size()
	if f.interactive {
		t.saved, _ = term.MakeRaw(t.fd) // on failure the terminal stays cooked
	}
	return t
}

// terminalFd returns the descriptor of r when r is a terminal.
func terminalFd(r io.Reader) (int, bool) {
	f, ok := r.(*os.File)
	if !ok {
		return 0, false
	}
	fd := int(f.Fd())
	return fd, term.IsTerminal(fd)
}

// size returns the terminal's rows and columns, or 24x80 when unknown.
func (t *ttyState) size() (rows, cols uint32) {
	w, h, err := term.GetSize(t.fd)
	if err != nil || w <= 0 || h <= 0 {
		return defaultRows, defaultCols
	}
	return uint32(h), uint32(w)
}

func (t *ttyState) restore() {
	if t.saved != nil {
		term.Restore(t.fd, t.saved)
		t.saved = nil
	}
}

// caughtSignals holds SIGINT, SIGTERM, SIGHUP and SIGQUIT (and SIGWINCH on
// a terminal) from catchSignals on, for forwardTo to send to the process.
type caughtSignals struct {
	ch   chan os.Signal
	tty  *ttyState
	done chan struct{}
}

func catchSignals(tty *ttyState) *caughtSignals {
	c := &caughtSignals{ch: make(chan os.Signal, 8), tty: tty, done: make(chan struct{})}
	sigs := []os.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT}
	if tty.isTTY {
		sigs = append(sigs, syscall.SIGWINCH)
	}
	signal.Notify(c.ch, sigs...)
	return c
}

// forwardTo sends the caught signals, those held so far first, to the
// process of s until stop is called.
func (c *caughtSignals) forwardTo(s *nefele.ExecSession) {
	go func() {
		for {
			select {
			case <-c.done:
				return
			case sig := <-c.ch:
				forward(s, c.tty, sig)
			}
		}
	}()
}

func (c *caughtSignals) stop() {
	signal.Stop(c.ch)
	close(c.done)
}

func forward(s *nefele.ExecSession, tty *ttyState, sig os.Signal) {
	if sig == syscall.SIGWINCH {
		s.Resize(tty.size())
		return
	}
	if n, ok := sig.(syscall.Signal); ok {
		s.Signal(strings.TrimPrefix(unix.SignalName(n), "SIG"))
	}
}
