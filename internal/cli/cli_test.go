package cli

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
	"time"
)

// testNow is the clock of every test run.
var testNow = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// result is what one in-process run of the command line gave.
type result struct {
	code           int
	stdout, stderr string
}

// runCLI runs the command line in-process with no environment, stdin, and
// the fixed clock testNow.
func runCLI(t *testing.T, stdin io.Reader, args ...string) result {
	t.Helper()
	var out, errs bytes.Buffer
	app := &App{Stdin: stdin, Stdout: &out, Stderr: &errs, Getenv: func(string) string { return "" },
		Now: func() time.Time { return testNow }}
	code := app.Run(context.Background(), args)
	t.Logf("nefele %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, out.String(), errs.String())
	return result{code: code, stdout: out.String(), stderr: errs.String()}
}

// unreachable is an address where no agent listens.
const unreachable = "127.0.0.1:1"

func TestBadInput(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want []string // substrings of stderr
	}{
		{"restart policy", []string{"run", "--restart", "sometimes", "--", "true"}, []string{"--restart", "never, on-failure, always"}},
		{"replicas 0", []string{"run", "--replicas", "0", "--", "true"}, []string{"--replicas", "1 or more"}},
		{"replicas word", []string{"run", "--replicas", "two", "--", "true"}, []string{"--replicas", "1 or more"}},
		{"max restarts", []string{"run", "--max-restarts", "-1", "--", "true"}, []string{"--max-restarts", "0 (no bound) or more"}},
		{"stop timeout", []string{"run", "--stop-timeout", "soon", "--", "true"}, []string{"--stop-timeout", "10s"}},
		{"run env", []string{"run", "--env", "NOEQUALS", "--", "true"}, []string{"--env", "KEY=VALUE"}},
		{"run env no key", []string{"run", "--env", "=v", "--", "true"}, []string{"--env", "KEY=VALUE"}},
		{"exec env", []string{"exec", "--env", "NOEQUALS", "--", "true"}, []string{"--env", "KEY=VALUE"}},
		{"stop timeout abc", []string{"stop", "--timeout", "abc", "p1"}, []string{"--timeout", "duration"}},
		{"stop timeout negative", []string{"stop", "--timeout", "-1s", "p1"}, []string{"--timeout", "duration"}},
		{"tail", []string{"logs", "--tail", "x", "p1"}, []string{"--tail", "-1 for all"}},
		{"tail -2", []string{"logs", "--tail", "-2", "p1"}, []string{"--tail", "-1 for all"}},
		{"output yaml", []string{"ps", "-o", "yaml"}, []string{"--output", "table, json"}},
		{"output yaml root", []string{"-o", "yaml", "nodes"}, []string{"--output", "table, json"}},
		{"stdout and stderr", []string{"logs", "--stdout", "--stderr", "p1"}, []string{"--stdout", "--stderr", "mutually exclusive"}},
		{"kill missing target", []string{"kill"}, []string{"kill: missing GPID or NAME", "nefele kill --help"}},
		{"kill two targets", []string{"kill", "p1", "p2"}, []string{"kill: want one GPID or NAME"}},
		{"stop missing target", []string{"stop"}, []string{"stop: missing GPID or NAME"}},
		{"restart missing target", []string{"restart"}, []string{"restart: missing GPID or NAME"}},
		{"wait missing target", []string{"wait"}, []string{"wait: missing GPID or NAME"}},
		{"inspect missing target", []string{"inspect"}, []string{"inspect: missing GPID or NAME"}},
		{"logs missing target", []string{"logs", "-f"}, []string{"logs: missing GPID or NAME"}},
		{"run no command", []string{"run"}, []string{"run: missing command", "Usage:", "nefele run [flags] -- CMD"}},
		{"run empty after dash", []string{"run", "--name", "x", "--"}, []string{"run: missing command", "Usage:"}},
		{"exec no command", []string{"exec", "-i", "--"}, []string{"exec: missing command", "Usage:", "nefele exec [flags] -- CMD"}},
		{"ps argument", []string{"ps", "extra"}, []string{`ps: unexpected argument "extra"`}},
		{"unknown command", []string{"frobnicate"}, []string{`unknown command "frobnicate"`}},
		{"unknown flag", []string{"ps", "--bogus"}, []string{"unknown flag: --bogus"}},
		{"bad addr", []string{"--addr", "nowhere", "ps"}, []string{"--addr", "HOST:PORT"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCLI(t, nil, append([]string{"--addr", unreachable}, tt.args...)...)
			if tt.name == "bad addr" {
				r = runCLI(t, nil, tt.args...)
			}
			if r.code != exitUsage {
				t.Errorf("exit code %d, want %d", r.code, exitUsage)
			}
			for _, w := range tt.want {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr does not contain %q", w)
				}
			}
			if strings.Contains(r.stderr, unreachable) {
				t.Errorf("the command called the agent before checking its input")
			}
		})
	}
}

func TestUnreachableAgent(t *testing.T) {
	for _, args := range [][]string{
		{"ps"}, {"ps", "-o", "json"}, {"nodes"}, {"events"}, {"run", "--", "true"}, {"exec", "--", "true"},
		{"kill", "p1"}, {"stop", "p1"}, {"restart", "p1"}, {"wait", "p1"}, {"inspect", "p1"}, {"logs", "p1"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			r := runCLI(t, nil, append([]string{"--addr", unreachable}, args...)...)
			if r.code != exitFailure {
				t.Errorf("exit code %d, want 1", r.code)
			}
			for _, w := range []string{unreachable, "nefele dev"} {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr does not contain %q", w)
				}
			}
		})
	}
}

func TestAddrFromEnv(t *testing.T) {
	var errs bytes.Buffer
	app := &App{Stderr: &errs, Getenv: func(k string) string {
		if k == "NEFELE_ADDR" {
			return "127.0.0.1:2"
		}
		return ""
	}}
	if code := app.Run(context.Background(), []string{"ps"}); code != exitFailure {
		t.Errorf("exit code %d, want 1", code)
	}
	if !strings.Contains(errs.String(), "127.0.0.1:2") {
		t.Errorf("stderr %q does not name the address from NEFELE_ADDR", errs.String())
	}
}

func TestVersionWithoutAgent(t *testing.T) {
	r := runCLI(t, nil, "--addr", unreachable, "version")
	if r.code != exitOK || !strings.Contains(r.stdout, Version) || !strings.Contains(r.stderr, unreachable) {
		t.Errorf("version without agent: want exit 0, %s on stdout and the address on stderr", Version)
	}
}

func TestZeroApp(t *testing.T) {
	var app App
	if code := app.Run(context.Background(), []string{"--help"}); code != exitOK {
		t.Errorf("zero App: exit code %d, want 0", code)
	}
}

func TestDefaultDataDir(t *testing.T) {
	env := func(kv ...string) func(string) string {
		return func(k string) string {
			for i := 0; i+1 < len(kv); i += 2 {
				if kv[i] == k {
					return kv[i+1]
				}
			}
			return ""
		}
	}
	tests := []struct {
		getenv func(string) string
		want   string
	}{
		{env("XDG_STATE_HOME", "/state", "HOME", "/home/u"), "/state/nefele"},
		{env("XDG_STATE_HOME", "relative", "HOME", "/home/u"), "/home/u/.local/state/nefele"},
		{env("HOME", "/home/u"), "/home/u/.local/state/nefele"},
	}
	for _, tt := range tests {
		if got := defaultDataDir(tt.getenv); got != tt.want {
			t.Errorf("defaultDataDir = %q, want %q", got, tt.want)
		}
	}
	if got := defaultDataDir(env()); !strings.Contains(got, "nefele-") {
		t.Errorf("defaultDataDir without HOME = %q, want a nefele-UID directory", got)
	}
}

// FuzzArgs checks that no command line makes the CLI panic. Its commands
// may call an address where nothing listens.
func FuzzArgs(f *testing.F) {
	for _, seed := range []string{"ps -o", "run --replicas", "logs --tail -- x", "exec -it --", "kill -s", "-o json inspect", "wait ''"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, line string) {
		args := append([]string{"--addr", unreachable}, strings.Fields(line)...)
		if len(args) > 2 && (args[2] == "dev" || args[2] == "completion") {
			return
		}
		app := &App{Getenv: func(string) string { return "" }}
		app.Run(context.Background(), args)
	})
}

func TestNotUTF8(t *testing.T) {
	r := runCLI(t, nil, "--addr", unreachable, "exec", "--", "echo", "\xb2")
	if r.code != exitUsage || !strings.Contains(r.stderr, "UTF-8") {
		t.Errorf("exec with a non-UTF-8 argument: exit %d; want 2 and a message about UTF-8", r.code)
	}
}
