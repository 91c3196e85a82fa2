package cli

import (
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/nefele/nefele/internal/agent"
)

func (c *cli) newDevCmd() *cobra.Command {
	var (
		dataDir     string
		logMax      int64 = 10 << 20
		logFiles          = 3
		rotateEvery time.Duration
		retention   time.Duration
		gcEvery     time.Duration
	)
	cmd := &cobra.Command{
		Use:   "dev [--data-dir DIR] [--addr HOST:PORT]",
		Short: "Run a single-node agent in the foreground, for development",
		Long: `dev runs an agent that is its own one-node cluster, listening at --addr,
with its state in --data-dir (default $XDG_STATE_HOME/nefele, or
~/.local/state/nefele). It logs to stderr and runs until SIGINT or SIGTERM.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dataDir == "" {
				dataDir = defaultDataDir(c.getenv)
			}
			ctx, stop := interruptible(cmd.Context())
			defer stop()
			log := slog.New(slog.NewTextHandler(c.stderr, nil))
			return agent.RunDev(ctx, agent.DevConfig{DataDir: dataDir, Addr: c.addr, Logger: log,
				LogMaxBytes: logMax, LogFiles: logFiles, LogCheckEvery: rotateEvery,
				Retention: retention, GCEvery: gcEvery})
		},
	}
	cmd.Flags().StringVar(&dataDir, "data-dir", "", "`DIR` of the agent's state")
	cmd.Flags().Var(&sizeValue{p: &logMax}, "log-max-size", "rotate a process's stdout or stderr log past this size")
	cmd.Flags().Var(&intValue{p: &logFiles, min: 1, hint: "want a number of files, 1 or more"}, "log-files", "log files kept per stream, the live one included")
	cmd.Flags().Var(&durationValue{p: &rotateEvery}, "log-check-interval", "how often log sizes are checked (default 2s)")
	cmd.Flags().MarkHidden("log-check-interval")
	cmd.Flags().Var(&durationValue{p: &retention}, "retention", "keep the record and logs of an ended process this long (default 24h)")
	cmd.Flags().Var(&durationValue{p: &gcEvery}, "gc-interval", "how often ended processes are looked at (default 1m)")
	cmd.Flags().MarkHidden("gc-interval")
	return cmd
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
