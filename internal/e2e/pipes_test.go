package e2e

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nefele/nefele/internal/testcluster"
	nefele "github.com/nefele/nefele/sdk"
)

// numbered returns "line from\n" … "line to\n".
func numbered(from, to int) string {
	var b strings.Builder
	for i := from; i <= to; i++ {
		fmt.Fprintf(&b, "line %d\n", i)
	}
	return b.String()
}

// gatedWriter prints lines 1 to 2000, pausing briefly every 250 lines, and
// after line 1000 waits until the file gate exists: the test knows the
// writer is still running while the reader has the first half.
func gatedWriter(gate string) string {
	return fmt.Sprintf(`i=1; while [ $i -le 2000 ]; do
  echo "line $i"
  [ $((i %% 250)) -eq 0 ] && sleep 0.02
  [ $i -eq 1000 ] && while [ ! -e %s ]; do sleep 0.02; done
  i=$((i+1))
done`, gate)
}

// stdoutOf returns everything gpid wrote to its stdout.
func stdoutOf(t *testing.T, c *nefele.Client, gpid string) string {
	t.Helper()
	var out bytes.Buffer
	if err := c.Logs(ctxT(t), gpid, nefele.LogsOptions{Stream: nefele.LogStdout}, &out, &out); err != nil {
		t.Fatalf("logs %s: %v", gpid, err)
	}
	return out.String()
}

// endedOK waits for gpid to end and checks that it exited with code 0,
// which a reader of a pipe does only once it has read EOF.
func endedOK(t *testing.T, c *nefele.Client, gpid string) {
	t.Helper()
	p := wait(t, c, gpid)
	if p.State != exited || p.ExitCode != 0 {
		t.Fatalf("%s: %v exit code %d (%s), want exited with 0", gpid, p.State, p.ExitCode, p.Reason)
	}
}

func sha256Line(s string) string { return fmt.Sprintf("%x  -\n", sha256.Sum256([]byte(s))) }

func TestPipes(t *testing.T) {
	agents := testcluster.Start(t, 4) // n1-n3 hold etcd, n4 is a worker that can restart freely
	c := agents[0].Client()
	pinned := func(node string, spec *nefele.Spec) *nefele.Spec { spec.Node = node; return spec }

	t.Run("a live writer on another node, to EOF", func(t *testing.T) {
		gate := filepath.Join(t.TempDir(), "gate")
		w := spawn(t, c, nefele.SpawnOptions{}, pinned("n1", sh(gatedWriter(gate))))[0]
		spec := pinned("n2", &nefele.Spec{Command: []string{"cat"}, StdinFrom: w.Gpid})
		r := spawn(t, c, nefele.SpawnOptions{}, spec)[0]
		if r.GetSpec().GetStdinFrom() != w.Gpid {
			t.Fatalf("reader's spec stdin_from %q, want %s", r.GetSpec().GetStdinFrom(), w.Gpid)
		}
		waitLog(t, c, r.Gpid, "line 1000\n") // the writer waits at the gate meanwhile
		if got := get(t, c, w.Gpid); got.State != running {
			t.Fatalf("writer %v while the reader has its first half, want running", got.State)
		}
		os.WriteFile(gate, nil, 0o644)
		endedOK(t, c, r.Gpid)
		if got, want := stdoutOf(t, c, r.Gpid), numbered(1, 2000); got != want {
			t.Fatalf("the reader read %d bytes, want the writer's %d, intact and in order", len(got), len(want))
		}
	})

	t.Run("a writer that ended before the reader started", func(t *testing.T) {
		w := spawn(t, c, nefele.SpawnOptions{Name: "done-writer"}, pinned("n1", sh(`seq 1 2000; printf 'no newline at the end'`)))[0]
		wait(t, c, w.Gpid)
		want := sha256Line(stdoutOf(t, c, w.Gpid))
		for _, node := range []string{"n1", "n2"} { // from this node's file, and through n1's agent
			r := spawn(t, c, nefele.SpawnOptions{}, pinned(node, &nefele.Spec{Command: []string{"sha256sum"}, StdinFrom: "done-writer"}))[0]
			endedOK(t, c, r.Gpid)
			if got := stdoutOf(t, c, r.Gpid); got != want {
				t.Fatalf("reader on %s: sha256sum says %q, want %q", node, got, want)
			}
		}
	})

	t.Run("three stages on three nodes, by name, through the CLI", func(t *testing.T) {
		cli := func(args ...string) testcluster.Result {
			t.Helper()
			r := agents[3].CLI(nil, args...)
			if r.Code != 0 {
				t.Fatalf("nefele %s: exit %d: %s", strings.Join(args, " "), r.Code, r.Stderr)
			}
			return r
		}
		cli("run", "--name", "gen", "--node", "n1", "--", "sh", "-c", `for i in $(seq 1 3000); do echo $i; [ $((i % 1000)) -eq 0 ] && sleep 0.05; done`)
		sevens := strings.TrimSpace(cli("run", "--name", "sevens", "--node", "n2", "--stdin-from", "gen", "--", "grep", "7").Stdout)
		count := strings.TrimSpace(cli("run", "--name", "count", "--node", "n3", "--stdin-from", "sevens", "--", "wc", "-l").Stdout)
		var rec struct {
			Spec struct {
				StdinFrom string `json:"stdin_from"`
			} `json:"spec"`
		}
		if err := json.Unmarshal([]byte(cli("inspect", "count").Stdout), &rec); err != nil || rec.Spec.StdinFrom != sevens {
			t.Fatalf("inspect count: spec.stdin_from %q (%v), want the GPID of sevens, %s", rec.Spec.StdinFrom, err, sevens)
		}
		cli("wait", "count")
		want := 0
		for i := 1; i <= 3000; i++ {
			if strings.Contains(fmt.Sprint(i), "7") {
				want++
			}
		}
		if got := strings.TrimSpace(cli("logs", "count").Stdout); got != fmt.Sprint(want) {
			t.Fatalf("gen | grep 7 | wc -l over n1, n2, n3 printed %q, want %d", got, want)
		}
		if p := get(t, c, count); p.Node != "n3" || p.ExitCode != 0 {
			t.Fatalf("count ran on %s and exited %d, want n3 and 0", p.Node, p.ExitCode)
		}
	})

	t.Run("an unknown source is refused and nothing starts", func(t *testing.T) {
		before, err := c.List(ctxT(t), true)
		if err != nil {
			t.Fatal(err)
		}
		for _, target := range []string{"nosuch", "p999999"} {
			r := agents[0].CLI(nil, "run", "--stdin-from", target, "--", "cat")
			if r.Code != 1 || !strings.Contains(r.Stderr, "no such process: "+target) || r.Stdout != "" {
				t.Fatalf("run --stdin-from %s: exit %d, stdout %q, stderr %q; want 1 and no such process: %s", target, r.Code, r.Stdout, r.Stderr, target)
			}
		}
		after, err := c.List(ctxT(t), true)
		if err != nil || len(after) != len(before) {
			t.Fatalf("%d processes before, %d after (%v): a refused spawn started something", len(before), len(after), err)
		}
	})

	t.Run("a group is refused, naming it", func(t *testing.T) {
		spawn(t, c, nefele.SpawnOptions{Name: "pair", Replicas: 2}, &nefele.Spec{Command: []string{"sleep", "600"}})
		r := agents[0].CLI(nil, "run", "--stdin-from", "pair", "--", "cat")
		if r.Code != 1 || !strings.Contains(r.Stderr, "pair") || !strings.Contains(r.Stderr, "2 processes") {
			t.Fatalf("run --stdin-from a group: exit %d, stderr %q; want 1 naming the group", r.Code, r.Stderr)
		}
		c.Stop(ctxT(t), "pair", 0)
	})

	t.Run("a registered name", func(t *testing.T) {
		w := spawn(t, c, nefele.SpawnOptions{}, pinned("n1", roleSpec("register piped-reg")))[0]
		waitLog(t, c, w.Gpid, "put owned/piped-reg")
		r := spawn(t, c, nefele.SpawnOptions{}, pinned("n2", &nefele.Spec{Command: []string{"cat"}, StdinFrom: "piped-reg"}))[0]
		waitLog(t, c, r.Gpid, "registered piped-reg "+w.Gpid)
		c.Stop(ctxT(t), w.Gpid, 0)
		endedOK(t, c, r.Gpid)
	})

	t.Run("a reader that exits first stops the feed quietly", func(t *testing.T) {
		w := spawn(t, c, nefele.SpawnOptions{}, pinned("n1", sh(`i=0; while :; do i=$((i+1)); echo "tick $i"; sleep 0.01; done`)))[0]
		r := spawn(t, c, nefele.SpawnOptions{}, pinned("n2", &nefele.Spec{Command: []string{"head", "-n", "3"}, StdinFrom: w.Gpid}))[0]
		endedOK(t, c, r.Gpid)
		if got := stdoutOf(t, c, r.Gpid); got != "tick 1\ntick 2\ntick 3\n" {
			t.Fatalf("head -n 3 read %q", got)
		}
		if got := get(t, c, w.Gpid); got.State != running {
			t.Fatalf("the writer %v once its reader left, want running", got.State)
		}
		c.Stop(ctxT(t), w.Gpid, 0)
		if log := agents[1].Log(); strings.Contains(log, "writing the reader's stdin") {
			t.Fatalf("the reader's agent logged the end of its reader as a failure:\n%s", log)
		}
	})

	t.Run("the writer's agent restarts mid-stream", func(t *testing.T) {
		gate := filepath.Join(t.TempDir(), "gate")
		w := spawn(t, c, nefele.SpawnOptions{}, pinned("n4", sh(gatedWriter(gate))))[0]
		r := spawn(t, c, nefele.SpawnOptions{}, pinned("n1", &nefele.Spec{Command: []string{"cat"}, StdinFrom: w.Gpid}))[0]
		waitLog(t, c, r.Gpid, "line 1000\n")
		agents[3].Kill() // the writer runs on, and the feed breaks
		agents[3].Restart()
		os.WriteFile(gate, nil, 0o644)
		endedOK(t, c, r.Gpid)
		if got, want := stdoutOf(t, c, r.Gpid), numbered(1, 2000); got != want {
			t.Fatalf("the reader read %d bytes, want the writer's %d once each, in order", len(got), len(want))
		}
	})

	t.Run("the reader's agent restarts: the adopted reader is not fed again", func(t *testing.T) {
		gate := filepath.Join(t.TempDir(), "gate")
		w := spawn(t, c, nefele.SpawnOptions{}, pinned("n1", sh(gatedWriter(gate))))[0]
		spec := pinned("n4", sh(`cat; echo "<eof>"; sleep 600`))
		spec.StdinFrom = w.Gpid
		r := spawn(t, c, nefele.SpawnOptions{}, spec)[0]
		waitLog(t, c, r.Gpid, "line 1000\n")
		agents[3].Kill() // the pipe's write end goes with it: the reader reads EOF
		agents[3].Restart()
		waitLog(t, c, r.Gpid, "<eof>")
		if got := get(t, c, r.Gpid); got.State != running || got.Pid != r.Pid {
			t.Fatalf("reader after its agent restarted: %v pid %d, want adopted, running as pid %d", got.State, got.Pid, r.Pid)
		}
		if !strings.Contains(agents[3].Log(), "adopted a process whose stdin was fed") {
			t.Fatalf("the restarted agent did not say the adopted reader is not fed again:\n%s", agents[3].Log())
		}
		os.WriteFile(gate, nil, 0o644)
		wait(t, c, w.Gpid)
		c.Stop(ctxT(t), r.Gpid, 0)
	})
}
