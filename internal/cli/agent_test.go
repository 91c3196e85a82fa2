package cli

import (
	"encoding/json"
	"strings"
	"testing"

	nefelev1 "github.com/nefele/nefele/api/nefele/v1"
)

// These tests run the commands against fakeAgent, an in-memory server of
// the public API; tests against a real agent live with the agent.

func TestRunPrintsGPIDs(t *testing.T) {
	_, addr := startFake(t)
	r := runCLI(t, nil, "--addr", addr, "run", "--name", "web", "--replicas", "2", "--restart", "always", "--env", "A=1", "--", "sleep", "60")
	if r.code != exitOK || r.stdout != "p1\np2\n" {
		t.Errorf("run: exit %d, stdout %q; want 0 and two GPIDs", r.code, r.stdout)
	}
}

func TestRunStartFailure(t *testing.T) {
	for cmd, code := range map[string]int{"missing": exitNotFound, "noexec": exitNotExecutable} {
		_, addr := startFake(t)
		r := runCLI(t, nil, "--addr", addr, "run", "--", cmd)
		if r.code != code || r.stdout != "p1\n" || !strings.Contains(r.stderr, cmd+":") {
			t.Errorf("run %s: exit %d, stdout %q; want %d, its GPID and the error on stderr", cmd, r.code, r.stdout, code)
		}
	}
}

func TestNoSuchProcess(t *testing.T) {
	_, addr := startFake(t)
	for _, cmd := range []string{"kill", "stop", "restart", "wait", "inspect", "logs"} {
		r := runCLI(t, nil, "--addr", addr, cmd, "ghost")
		if r.code != exitFailure || !strings.Contains(r.stderr, "no such process: ghost") {
			t.Errorf("%s ghost: exit %d; want 1 and \"no such process: ghost\"", cmd, r.code)
		}
	}
}

func TestJSONError(t *testing.T) {
	_, addr := startFake(t)
	r := runCLI(t, nil, "--addr", addr, "-o", "json", "wait", "ghost")
	var e struct{ Error, Reason string }
	if err := json.Unmarshal([]byte(r.stderr), &e); err != nil {
		t.Fatalf("stderr is not a JSON object: %v", err)
	}
	if r.code != exitFailure || e.Error != "no such process: ghost" || e.Reason != "no_such_process" {
		t.Errorf("exit %d, error %+v", r.code, e)
	}
}

func TestKillBadSignal(t *testing.T) {
	_, addr := startFake(t, &nefelev1.Process{Gpid: "p1"})
	r := runCLI(t, nil, "--addr", addr, "kill", "-s", "BOGUS", "p1")
	if r.code != exitFailure || !strings.Contains(r.stderr, "TERM") {
		t.Errorf("kill -s BOGUS: exit %d; want 1 and the valid names", r.code)
	}
	if r = runCLI(t, nil, "--addr", addr, "kill", "p1"); r.code != exitOK || r.stdout != "p1\n" {
		t.Errorf("kill p1: exit %d, stdout %q", r.code, r.stdout)
	}
}

func TestPs(t *testing.T) {
	_, addr := startFake(t,
		&nefelev1.Process{Gpid: "p1", Name: "web", Node: "n1", State: nefelev1.State_STATE_RUNNING, Pid: 42, Restarts: 1,
			StartedAt: "2026-01-02T03:00:05Z", Spec: &nefelev1.Spec{Command: []string{"sh", "-c", strings.Repeat("x", 60)}}},
		&nefelev1.Process{Gpid: "p2", Node: "n1", State: nefelev1.State_STATE_EXITED, CreatedAt: "2026-01-01T03:04:05Z"})
	r := runCLI(t, nil, "--addr", addr, "ps", "-a")
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if r.code != exitOK || len(lines) != 3 {
		t.Fatalf("ps: exit %d, %d lines; want 0 and a header and two rows", r.code, len(lines))
	}
	for _, w := range []string{"GPID", "NAME", "NODE", "STATE", "PID", "RESTARTS", "AGE", "COMMAND"} {
		if !strings.Contains(lines[0], w) {
			t.Errorf("header %q lacks %s", lines[0], w)
		}
	}
	if f := strings.Fields(lines[1]); len(f) < 8 || f[1] != "web" || f[3] != "running" || f[4] != "42" || f[6] != "4m" || !strings.HasSuffix(lines[1], "...") {
		t.Errorf("row %q", lines[1])
	}
	if f := strings.Fields(lines[2]); len(f) < 7 || f[1] != "-" || f[3] != "exited" || f[4] != "-" || f[6] != "1d" {
		t.Errorf("row %q", lines[2])
	}
}

func TestPsJSON(t *testing.T) {
	_, addr := startFake(t)
	if r := runCLI(t, nil, "--addr", addr, "ps", "-o", "json"); r.code != exitOK || strings.TrimSpace(r.stdout) != "[]" {
		t.Errorf("ps -o json with no processes: exit %d, stdout %q; want []", r.code, r.stdout)
	}
	runCLI(t, nil, "--addr", addr, "run", "--", "sleep", "1")
	r := runCLI(t, nil, "--addr", addr, "ps", "-o", "json")
	var procs []map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &procs); err != nil || len(procs) != 1 {
		t.Fatalf("ps -o json: %v, %d records", err, len(procs))
	}
	if procs[0]["gpid"] != "p1" || procs[0]["state"] != "running" {
		t.Errorf("record %v", procs[0])
	}
}

func TestInspect(t *testing.T) {
	_, addr := startFake(t)
	runCLI(t, nil, "--addr", addr, "run", "--name", "one", "--", "sleep", "1")
	runCLI(t, nil, "--addr", addr, "run", "--name", "grp", "--replicas", "2", "--", "sleep", "1")
	r := runCLI(t, nil, "--addr", addr, "inspect", "one")
	var one map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &one); err != nil || one["spec"] == nil {
		t.Errorf("inspect one: want one object with a spec: %v", err)
	}
	r = runCLI(t, nil, "--addr", addr, "inspect", "grp")
	var group []map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &group); err != nil || len(group) != 2 {
		t.Errorf("inspect group: want an array of 2: %v", err)
	}
}

func TestWaitStatus(t *testing.T) {
	_, addr := startFake(t,
		&nefelev1.Process{Gpid: "p1", State: nefelev1.State_STATE_EXITED, ExitCode: 3},
		&nefelev1.Process{Gpid: "p2", State: nefelev1.State_STATE_EXITED, ExitCode: -1, Signal: "TERM"},
		&nefelev1.Process{Gpid: "p3", State: nefelev1.State_STATE_EXITED})
	for target, want := range map[string]int{"p1": 3, "p2": 143, "p3": 0} {
		if r := runCLI(t, nil, "--addr", addr, "wait", target); r.code != want || r.stdout != "" {
			t.Errorf("wait %s: exit %d, want %d and no output", target, r.code, want)
		}
	}
	r := runCLI(t, nil, "--addr", addr, "wait", "-o", "json", "p2")
	var procs []map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &procs); err != nil || len(procs) != 1 || procs[0]["signal"] != "TERM" {
		t.Errorf("wait -o json: %v, %v", err, procs)
	}
}

func TestExec(t *testing.T) {
	_, addr := startFake(t)
	r := runCLI(t, strings.NewReader("hello"), "--addr", addr, "exec", "-i", "--", "exit", "7")
	if r.code != 7 || r.stdout != "exit 7 tty=false 0x0\n" || r.stderr != "hello" {
		t.Errorf("exec -i exit 7: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	r = runCLI(t, nil, "--addr", addr, "exec", "-t", "echo", "hi")
	if r.code != exitOK || r.stdout != "echo hi tty=true 24x80\n" {
		t.Errorf("exec -t without a terminal: exit %d, stdout %q; want a 24x80 TTY", r.code, r.stdout)
	}
}

func TestExecNotFound(t *testing.T) {
	_, addr := startFake(t)
	r := runCLI(t, nil, "--addr", addr, "exec", "--", "missing")
	if r.code != exitNotFound || !strings.Contains(r.stderr, "nefele: missing: command not found") {
		t.Errorf("exec missing: exit %d, stderr %q; want 127 and the agent's message", r.code, r.stderr)
	}
}

func TestLogs(t *testing.T) {
	_, addr := startFake(t, &nefelev1.Process{Gpid: "p1"})
	if r := runCLI(t, nil, "--addr", addr, "logs", "p1"); r.code != exitOK || r.stdout != "out\n" || r.stderr != "err\n" {
		t.Errorf("logs: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	if r := runCLI(t, nil, "--addr", addr, "logs", "--stderr", "p1"); r.stdout != "" || r.stderr != "err\n" {
		t.Errorf("logs --stderr: stdout %q, stderr %q", r.stdout, r.stderr)
	}
}

func TestNodes(t *testing.T) {
	_, addr := startFake(t)
	r := runCLI(t, nil, "--addr", addr, "nodes")
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	want := []string{"n1", "127.0.0.1:7070", "up", "42", "yes", "8", "16.0GiB", "3/64", "0s"}
	if r.code != exitOK || len(lines) != 2 || strings.Join(strings.Fields(lines[1]), " ") != strings.Join(want, " ") {
		t.Errorf("nodes: exit %d, stdout %q", r.code, r.stdout)
	}
	r = runCLI(t, nil, "--addr", addr, "nodes", "-o", "json")
	var nodes []map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &nodes); err != nil || len(nodes) != 1 || nodes[0]["memory_bytes"] != float64(16<<30) {
		t.Errorf("nodes -o json: %v, %v", err, nodes)
	}
}

func TestEvents(t *testing.T) {
	_, addr := startFake(t)
	r := runCLI(t, nil, "--addr", addr, "events", "-o", "json")
	var e map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &e); err != nil || e["to"] != "running" || e["from"] != "" || e["gpid"] != "p1" {
		t.Errorf("events -o json: %v, %v", err, e)
	}
	r = runCLI(t, nil, "--addr", addr, "events")
	if lines := strings.Split(strings.TrimSpace(r.stdout), "\n"); len(lines) != 2 || !strings.Contains(lines[1], "running") {
		t.Errorf("events: %q", r.stdout)
	}
}

func TestVersion(t *testing.T) {
	_, addr := startFake(t)
	r := runCLI(t, nil, "--addr", addr, "version", "-o", "json")
	var v struct {
		Client string
		Agent  *struct{ Version string }
	}
	if err := json.Unmarshal([]byte(r.stdout), &v); err != nil || v.Client != Version || v.Agent == nil || v.Agent.Version != "9.9.9" {
		t.Errorf("version -o json: %v, %+v", err, v)
	}
}
