package cli

import (
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	nefelev1 "github.com/nefele/nefele/api/nefele/v1"
	nefele "github.com/nefele/nefele/sdk"
)

// commandWidth is how much of a command ps shows.
const commandWidth = 40

func (c *cli) newPsCmd() *cobra.Command {
	var all bool
	cmd := &cobra.Command{
		Use:   "ps [-a]",
		Short: "List processes",
		Long: `ps lists the live processes of the cluster, and with -a the ended ones too,
ordered by GPID.

Columns: GPID, NAME, NODE, STATE, PID, RESTARTS, AGE (since the last start)
and COMMAND. -o json prints an array of records instead.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			client, err := c.dial()
			if err != nil {
				return err
			}
			defer client.Close()
			procs, err := client.List(cmd.Context(), all)
			if err != nil {
				return err
			}
			return c.printPs(procs)
		},
	}
	cmd.Flags().BoolVarP(&all, "all", "a", false, "include ended processes")
	return cmd
}

func (c *cli) printPs(procs []*nefele.Process) error {
	if c.json() {
		return writeJSON(c.stdout, toProcessesJSON(procs))
	}
	now := c.now()
	t := newTable(c.stdout, "GPID", "NAME", "NODE", "STATE", "PID", "RESTARTS", "AGE", "COMMAND")
	for _, p := range procs {
		t.row(psRow(now, p)...)
	}
	return t.flush()
}

func psRow(now time.Time, p *nefele.Process) []string {
	pid := "-"
	if p.GetPid() > 0 {
		pid = strconv.Itoa(int(p.GetPid()))
	}
	return []string{
		p.GetGpid(), dash(p.GetName()), dash(p.GetNode()), psState(now, p), pid,
		strconv.Itoa(int(p.GetRestarts())), processAge(now, p),
		truncate(strings.Join(p.GetSpec().GetCommand(), " "), commandWidth),
	}
}

// psState is the state word, with the time left for a process in backoff:
// "backoff (3s)".
func psState(now time.Time, p *nefele.Process) string {
	word := stateWord(p.GetState())
	if p.GetState() != nefelev1.State_STATE_BACKOFF {
		return word
	}
	next, ok := parseTime(p.GetNextRestartAt())
	if !ok || !next.After(now) {
		return word
	}
	return word + " (" + formatAge(next.Sub(now).Round(time.Second)) + ")"
}

// processAge is the time since the last start, or since creation before the first.
func processAge(now time.Time, p *nefele.Process) string {
	if p.GetStartedAt() != "" {
		return age(now, p.GetStartedAt())
	}
	return age(now, p.GetCreatedAt())
}
