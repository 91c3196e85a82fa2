package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	nefelev1 "github.com/nefele/nefele/api/nefele/v1"
	nefele "github.com/nefele/nefele/sdk"
)

// eventFormat lays out an event row; fixed widths rather than a tabwriter,
// so that rows line up while events -f prints them one at a time.
const eventFormat = "%-19s  %-6s  %-16s  %-12s  %-9s  %-9s  %s\n"

func (c *cli) newEventsCmd() *cobra.Command {
	var follow bool
	cmd := &cobra.Command{
		Use:   "events [-f]",
		Short: "Print the state transitions of processes",
		Long: `events prints the recorded state transitions of processes, oldest first;
with -f it goes on with new ones until Ctrl-C.

Columns: TIME (local), GPID, NAME, NODE, FROM, TO and REASON. -o json prints
one JSON object a line (NDJSON) with the keys time, gpid, name, node, from,
to and reason.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			client, err := c.dial()
			if err != nil {
				return err
			}
			defer client.Close()
			ctx, stop := interruptible(cmd.Context())
			defer stop()
			p := &eventPrinter{c: c}
			err = client.Events(ctx, follow, p.print)
			if ctx.Err() != nil {
				err = nil // interrupted: following ends
			}
			if err == nil {
				p.header()
			}
			return err
		},
	}
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "follow new events until Ctrl-C")
	return cmd
}

// eventJSON is the JSON form of an event.
type eventJSON struct {
	Time   string `json:"time"`
	GPID   string `json:"gpid"`
	Name   string `json:"name"`
	Node   string `json:"node"`
	From   string `json:"from"`
	To     string `json:"to"`
	Reason string `json:"reason"`
}

func toEventJSON(e *nefele.Event) eventJSON {
	return eventJSON{
		Time: e.GetTime(), GPID: e.GetGpid(), Name: e.GetName(), Node: e.GetNode(),
		From: eventState(e.GetFrom()), To: eventState(e.GetTo()), Reason: e.GetReason(),
	}
}

// eventState is the state word, or "" for the unspecified state (the from
// of a process's first event).
func eventState(s nefelev1.State) string {
	if s == nefelev1.State_STATE_UNSPECIFIED {
		return ""
	}
	return stateWord(s)
}

// eventPrinter prints events as they arrive, under a header printed once:
// before the first event, or at the end when there was none.
type eventPrinter struct {
	c       *cli
	started bool
}

func (p *eventPrinter) header() {
	if !p.started && !p.c.json() {
		fmt.Fprintf(p.c.stdout, eventFormat, "TIME", "GPID", "NAME", "NODE", "FROM", "TO", "REASON")
	}
	p.started = true
}

func (p *eventPrinter) print(e *nefele.Event) error {
	p.header()
	j := toEventJSON(e)
	if p.c.json() {
		return writeJSONLine(p.c.stdout, j)
	}
	tm := j.Time
	if t, ok := parseTime(tm); ok {
		tm = t.Local().Format("2006-01-02 15:04:05")
	}
	_, err := fmt.Fprintf(p.c.stdout, eventFormat, tm, j.GPID, dash(j.Name), dash(j.Node), dash(j.From), dash(j.To), j.Reason)
	return err
}
