package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	nefelev1 "github.com/nefele/nefele/api/nefele/v1"
	nefele "github.com/nefele/nefele/sdk"
)

// The values of -o.
const (
	outTable = "table"
	outJSON  = "json"
)

// processJSON is the JSON form of a process in ps, wait, run, kill, stop
// and restart; inspect adds the rest of the record.
type processJSON struct {
	GPID      string   `json:"gpid"`
	Name      string   `json:"name"`
	Group     string   `json:"group"`
	Replica   int32    `json:"replica"`
	Node      string   `json:"node"`
	State     string   `json:"state"`
	PID       int32    `json:"pid"`
	ExitCode  int32    `json:"exit_code"`
	Signal    string   `json:"signal"`
	Reason    string   `json:"reason"`
	Restarts  int32    `json:"restarts"`
	CreatedAt string   `json:"created_at"`
	StartedAt string   `json:"started_at"`
	EndedAt   string   `json:"ended_at"`
	Command   []string `json:"command"`
	Attached  bool     `json:"attached"`
}

// toProcessJSON converts p; a nil p gives the zero record.
func toProcessJSON(p *nefele.Process) processJSON {
	return processJSON{
		GPID: p.GetGpid(), Name: p.GetName(), Group: p.GetGroup(), Replica: p.GetReplica(),
		Node: p.GetNode(), State: stateWord(p.GetState()), PID: p.GetPid(),
		ExitCode: p.GetExitCode(), Signal: p.GetSignal(), Reason: p.GetReason(),
		Restarts: p.GetRestarts(), CreatedAt: p.GetCreatedAt(), StartedAt: p.GetStartedAt(),
		EndedAt: p.GetEndedAt(), Command: nonNil(p.GetSpec().GetCommand()), Attached: p.GetAttached(),
	}
}

// toProcessesJSON converts procs; it is never nil, so that JSON shows [].
func toProcessesJSON(procs []*nefele.Process) []processJSON {
	out := make([]processJSON, 0, len(procs))
	for _, p := range procs {
		out = append(out, toProcessJSON(p))
	}
	return out
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// stateWord is s as ps shows it: "running", "backoff", …
func stateWord(s nefelev1.State) string {
	if s == nefelev1.State_STATE_UNSPECIFIED {
		return "unknown"
	}
	name, ok := nefelev1.State_name[int32(s)]
	if !ok {
		return strconv.Itoa(int(s))
	}
	return strings.ToLower(strings.TrimPrefix(name, "STATE_"))
}

// reasonWord is r as a snake_case word, or "" when unspecified.
func reasonWord(r nefelev1.Reason) string {
	if r == nefelev1.Reason_REASON_UNSPECIFIED {
		return ""
	}
	return nefele.ReasonName(r)
}

// writeJSON writes v as indented JSON, leaving <, > and & as they are, for
// commands like "sh -c 'a && b'".
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// writeJSONLine writes v as one line of compact JSON.
func writeJSONLine(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// table writes aligned columns; Flush writes them out.
type table struct{ tw *tabwriter.Writer }

func newTable(w io.Writer, header ...string) *table {
	t := &table{tw: tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)}
	t.row(header...)
	return t
}

func (t *table) row(cells ...string) {
	fmt.Fprintln(t.tw, strings.Join(cells, "\t"))
}

func (t *table) flush() error { return t.tw.Flush() }

// parseTime parses an RFC 3339 time of the API; ok is false when s is empty
// or malformed.
func parseTime(s string) (t time.Time, ok bool) {
	t, err := time.Parse(time.RFC3339Nano, s)
	return t, err == nil && s != ""
}

// age is how long ago the RFC 3339 time ts was, like 5s, 3m, 2h or 4d; "-"
// when ts is not a time.
func age(now time.Time, ts string) string {
	t, ok := parseTime(ts)
	if !ok {
		return "-"
	}
	return formatAge(now.Sub(t))
}

// formatAge formats d in its largest whole unit: 5s, 3m, 2h, 4d. A negative
// d (clock skew) counts as 0s.
func formatAge(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", max(d, 0)/time.Second)
	case d < time.Hour:
		return fmt.Sprintf("%dm", d/time.Minute)
	case d < 24*time.Hour:
		return fmt.Sprintf("%dh", d/time.Hour)
	}
	return fmt.Sprintf("%dd", d/(24*time.Hour))
}

// formatBytes formats n in binary units with one decimal: 512B, 1.5KiB, 15.6GiB.
func formatBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%dB", n)
	}
	v, i := float64(n)/unit, 0
	for v >= unit && i < 4 {
		v /= unit
		i++
	}
	return fmt.Sprintf("%.1f%ciB", v, "KMGTP"[i])
}

// truncate shortens s to at most n runes, marking the cut with "...".
func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-3]) + "..."
}

// dash returns s, or "-" when it is empty.
func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
