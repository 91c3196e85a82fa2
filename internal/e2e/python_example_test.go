package e2e

import (
	"errors"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/nefele/nefele/internal/testcluster"
	nefele "github.com/nefele/nefele/sdk"
)

// TestPythonExample runs examples/python/counter.py, a client of the JSON
// API in Python's standard library, as two managed processes at once on
// one agent. Each registers a name, then ten times takes a lock and adds 1
// to a counter by read and compare-and-swap. No update may be lost, no
// swap may be refused (that would mean two holders at once), and the
// fencing tokens must strictly increase in the order the lock was held.
func TestPythonExample(t *testing.T) {
	python, script := pythonExample(t, "counter.py")
	a := testcluster.StartAgent(t)
	c := a.Client()
	ctx := ctxT(t)

	const n = 10
	names := []string{"c1", "c2"}
	var gpids []string
	for _, name := range names {
		spec := &nefele.Spec{Command: []string{python, script, name, strconv.Itoa(n)},
			Env: []string{"PYTHONDONTWRITEBYTECODE=1"}} // no __pycache__ in the source tree
		gpids = append(gpids, spawn(t, c, nefele.SpawnOptions{}, spec)[0].Gpid)
	}
	var rounds []counterRound
	for i, gpid := range gpids {
		end := wait(t, c, gpid)
		out, errOut := outputOf(t, c, gpid)
		if end.ExitCode != 0 {
			t.Fatalf("counter.py %s (%s) exited %d (%s)\nstdout:\n%s\nstderr:\n%s", names[i], gpid, end.ExitCode, end.Reason, out, errOut)
		}
		rounds = append(rounds, checkCounterLog(t, names[i], gpid, out, n)...)
	}

	kv, err := c.KV().Get(ctx, "examples/counter")
	if err != nil || string(kv.Value) != strconv.Itoa(2*n) {
		t.Fatalf("the counter after two processes added 1 %d times each: %q %v, want %d (a lost update)", n, kv.GetValue(), err, 2*n)
	}
	// In the order of the counter's values, which is the order the lock
	// was held in, each round saw the value the one before wrote, and the
	// fencing tokens strictly increase across both processes.
	slices.SortFunc(rounds, func(x, y counterRound) int { return x.to - y.to })
	for i, r := range rounds {
		if r.from != i || r.to != i+1 {
			t.Fatalf("round %d of %s went %d -> %d, want %d -> %d", i, r.gpid, r.from, r.to, i, i+1)
		}
		if i > 0 && r.token <= rounds[i-1].token {
			t.Fatalf("fencing token %d of %s (counter %d) is not above %d of %s (counter %d)",
				r.token, r.gpid, r.to, rounds[i-1].token, rounds[i-1].gpid, rounds[i-1].to)
		}
	}
	switches := 0
	for i := 1; i < len(rounds); i++ {
		if rounds[i].gpid != rounds[i-1].gpid {
			switches++
		}
	}
	t.Logf("the lock went from one process to the other %d times in %d rounds", switches, len(rounds))

	// The names went with their processes.
	for _, name := range names {
		eventually(t, "the name "+name+" of an ended process is free", func() bool {
			_, err := c.Lookup(ctx, name)
			return errors.Is(err, nefele.ErrNoName)
		})
	}
}

// counterRound is one locked increment that counter.py reported.
type counterRound struct {
	gpid     string
	token    int64
	from, to int
}

var counterRoundRE = regexp.MustCompile(`^token (\d+): counter (\d+) -> (\d+)$`)

// checkCounterLog checks the stdout of counter.py NAME n run as gpid and
// returns its rounds: it registered NAME, made n rounds with strictly
// increasing fencing tokens, and had no conflicts.
func checkCounterLog(t *testing.T, name, gpid, out string, n int) []counterRound {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if want := "registered " + name + " as " + gpid + " on "; !strings.HasPrefix(lines[0], want) {
		t.Fatalf("counter.py %s: first line %q, want %q…\n%s", name, lines[0], want, out)
	}
	var rounds []counterRound
	for _, line := range lines[1:] {
		m := counterRoundRE.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		r := counterRound{gpid: gpid}
		r.token, _ = strconv.ParseInt(m[1], 10, 64)
		r.from, _ = strconv.Atoi(m[2])
		r.to, _ = strconv.Atoi(m[3])
		if k := len(rounds); k > 0 && r.token <= rounds[k-1].token {
			t.Fatalf("counter.py %s: fencing token %d after %d, want strictly increasing\n%s", name, r.token, rounds[k-1].token, out)
		}
		rounds = append(rounds, r)
	}
	if len(rounds) != n {
		t.Fatalf("counter.py %s: %d rounds, want %d\n%s", name, len(rounds), n, out)
	}
	if !slices.Contains(lines, "conflicts 0") {
		t.Fatalf("counter.py %s: a compare-and-swap under the lock was refused\n%s", name, out)
	}
	return rounds
}

// outputOf returns what gpid wrote to stdout and to stderr.
func outputOf(t *testing.T, c *nefele.Client, gpid string) (string, string) {
	t.Helper()
	var out, errOut strings.Builder
	if err := c.Logs(ctxT(t), gpid, nefele.LogsOptions{}, &out, &errOut); err != nil {
		t.Fatalf("logs of %s: %v", gpid, err)
	}
	return out.String(), errOut.String()
}

// TestPythonMailbox runs examples/python/echo.py, a mailbox in Python's
// standard library that speaks the protocol of sdk/mailbox: the Go SDK
// calls it straight, the CLI through an agent, messages arrive in order,
// and the limits hold.
func TestPythonMailbox(t *testing.T) {
	python, script := pythonExample(t, "echo.py")
	a := testcluster.StartAgent(t)
	c := a.Client()
	ctx := ctxT(t)
	p := spawn(t, c, nefele.SpawnOptions{}, &nefele.Spec{Command: []string{python, script, "py-echo"},
		Env: []string{"PYTHONDONTWRITEBYTECODE=1"}})[0]
	waitLog(t, c, p.Gpid, "registered py-echo as "+p.Gpid)
	big := make([]byte, 1<<20)
	big[777] = 7
	if got, err := c.Call(ctx, "py-echo", big); err != nil || len(got) != len(big) || got[777] != 7 {
		t.Fatalf("call py-echo with 1 MiB: %d bytes, %v", len(got), err)
	}
	if err := c.Send(ctx, "py-echo", make([]byte, 1<<20+1), nefele.SendOptions{}); !errors.Is(err, nefele.ErrTooLarge) {
		t.Fatalf("send over the limit: %v, want ErrTooLarge", err)
	}
	if r := a.CLI(nil, "call", "py-echo", "through an agent"); r.Code != 0 || r.Stdout != "through an agent\n" {
		t.Fatalf("nefele call py-echo: code %d out %q err %q", r.Code, r.Stdout, r.Stderr)
	}
	const n = 2000
	for i := range n {
		if err := c.Send(ctx, "py-echo", []byte(strconv.Itoa(i)), nefele.SendOptions{}); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	// On the same connection, behind the messages: its reply says they came.
	if _, err := c.Call(ctx, "py-echo", []byte("done")); err != nil {
		t.Fatal(err)
	}
	out, _ := outputOf(t, c, p.Gpid)
	var got []string
	for line := range strings.Lines(out) {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "from -: "); ok {
			got = append(got, rest)
		}
	}
	if len(got) != n {
		t.Fatalf("echo.py printed %d messages, sent %d", len(got), n)
	}
	for i, s := range got {
		if s != strconv.Itoa(i) {
			t.Fatalf("message %d printed as %q: out of order", i, s)
		}
	}
	killPid(int(get(t, c, p.Gpid).Pid))
	eventually(t, "a send to the killed echo.py fails", func() bool {
		return errors.Is(c.Send(ctx, "py-echo", []byte("x"), nefele.SendOptions{}), nefele.ErrNoProcess)
	})
}

// pythonExample returns python3 and the path of examples/python/name, or
// skips t when python3 is missing.
func pythonExample(t *testing.T, name string) (python, script string) {
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 is not on PATH; the Python example needs it (Debian: apt-get install python3)")
	}
	_, file, _, _ := runtime.Caller(0)
	return python, filepath.Join(filepath.Dir(file), "..", "..", "examples", "python", name)
}
