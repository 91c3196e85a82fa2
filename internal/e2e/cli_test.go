package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nefele/nefele/internal/testcluster"
)

// TestCLI drives every command through the built binary against a real agent.
func TestCLI(t *testing.T) {
	a := testcluster.StartAgent(t)
	cli := func(args ...string) testcluster.Result { t.Helper(); return a.CLI(nil, args...) }

	t.Run("run prints one GPID per line and ps shows them", func(t *testing.T) {
		r := cli("run", "--name", "sleepers", "--replicas", "3", "--", "sleep", "60")
		gpids := strings.Fields(r.Stdout)
		if r.Code != 0 || len(gpids) != 3 {
			t.Fatalf("run: code %d out %q err %q", r.Code, r.Stdout, r.Stderr)
		}
		ps := cli("ps")
		header := strings.Fields(strings.SplitN(ps.Stdout, "\n", 2)[0])
		want := []string{"GPID", "NAME", "NODE", "STATE", "PID", "RESTARTS", "AGE", "COMMAND"}
		if strings.Join(header, " ") != strings.Join(want, " ") {
			t.Fatalf("ps header %v, want %v", header, want)
		}
		for _, g := range gpids {
			if !strings.Contains(ps.Stdout, g) {
				t.Fatalf("ps lacks %s:\n%s", g, ps.Stdout)
			}
		}
		var rows []map[string]any
		js := cli("ps", "-o", "json")
		if err := json.Unmarshal([]byte(js.Stdout), &rows); err != nil {
			t.Fatalf("ps -o json: %v\n%s", err, js.Stdout)
		}
		for _, k := range []string{"gpid", "name", "node", "state", "pid", "exit_code", "signal", "reason", "restarts", "started_at", "command"} {
			if _, ok := rows[0][k]; !ok {
				t.Fatalf("ps -o json lacks %q: %v", k, rows[0])
			}
		}
		if _, ok := rows[0]["command"].([]any); !ok {
			t.Fatalf("command is not an array: %v", rows[0]["command"])
		}
		if r := cli("stop", "sleepers"); r.Code != 0 {
			t.Fatalf("stop: %d %s", r.Code, r.Stderr)
		}
		if all := cli("ps", "-a"); !strings.Contains(all.Stdout, gpids[0]) || strings.Contains(cli("ps").Stdout, gpids[0]) {
			t.Fatalf("a stopped process must show in ps -a only")
		}
	})

	t.Run("exec exit codes and signals", func(t *testing.T) {
		r := cli("exec", "--", "sh", "-c", "echo out; echo err >&2; exit 3")
		if r.Code != 3 || r.Stdout != "out\n" || r.Stderr != "err\n" {
			t.Fatalf("exec: code %d out %q err %q, want 3, stdout and stderr apart", r.Code, r.Stdout, r.Stderr)
		}
		if r := cli("exec", "--", "sh", "-c", "kill -TERM $$"); r.Code != 128+15 {
			t.Fatalf("exec killed by TERM: code %d, want 143", r.Code)
		}
		if r := cli("exec", "--", "/no/such/cmd"); r.Code != 127 || !strings.Contains(r.Stderr, "/no/such/cmd") {
			t.Fatalf("missing program: code %d err %q, want 127 naming the path", r.Code, r.Stderr)
		}
		if r := cli("exec", "--", "no-such-cmd-anywhere"); r.Code != 127 {
			t.Fatalf("program not in PATH: code %d err %q, want 127", r.Code, r.Stderr)
		}
		f := t.TempDir() + "/script"
		os.WriteFile(f, []byte("#!/bin/sh\necho hi\n"), 0o644)
		if r := cli("exec", "--", f); r.Code != 126 || !strings.Contains(r.Stderr, f) {
			t.Fatalf("not executable: code %d err %q, want 126 naming the path", r.Code, r.Stderr)
		}
		r = cli("run", "--", "/no/such/cmd")
		if r.Code != 127 || !strings.HasPrefix(r.Stdout, "p") || !strings.Contains(r.Stderr, "/no/such/cmd") {
			t.Fatalf("run of a missing program: code %d out %q err %q, want the GPID, 127 and the path", r.Code, r.Stdout, r.Stderr)
		}
		if r := cli("exec", "--env", "A=b", "--", "sh", "-c", `echo $A`); r.Stdout != "b\n" {
			t.Fatalf("exec --env: %q", r.Stdout)
		}
	})

	t.Run("exec is a record", func(t *testing.T) {
		r := cli("exec", "--", "sh", "-c", "echo $NEFELE_GPID")
		gpid := strings.TrimSpace(r.Stdout)
		all := cli("ps", "-a")
		if !strings.Contains(all.Stdout, gpid) {
			t.Fatalf("exec'd %s not in ps -a:\n%s", gpid, all.Stdout)
		}
	})

	t.Run("exec streams stdin with EOF", func(t *testing.T) {
		r := a.CLI(strings.NewReader("line one\nline two\n"), "exec", "-i", "--", "sh", "-c", "cat; echo done")
		if r.Code != 0 || r.Stdout != "line one\nline two\ndone\n" {
			t.Fatalf("exec -i: code %d out %q", r.Code, r.Stdout)
		}
		if r := a.CLI(strings.NewReader("ignored\n"), "exec", "--", "cat"); r.Stdout != "" || r.Code != 0 {
			t.Fatalf("exec without -i must read /dev/null: %q", r.Stdout)
		}
	})

	t.Run("exec -t gives a terminal", func(t *testing.T) {
		r := cli("exec", "-t", "--", "sh", "-c", "test -t 0 && test -t 1 && echo tty; stty size")
		if r.Code != 0 || !strings.Contains(r.Stdout, "tty") || !strings.Contains(r.Stdout, "24 80") {
			t.Fatalf("exec -t: code %d out %q err %q", r.Code, r.Stdout, r.Stderr)
		}
	})

	t.Run("exec forwards SIGINT", func(t *testing.T) {
		cmd := exec.Command(testcluster.Binary(t), "exec", "--", "sh", "-c", `trap 'echo got-int; exit 9' INT; echo ready; while :; do sleep 0.05; done`)
		cmd.Env = append(os.Environ(), "NEFELE_ADDR="+a.Addr)
		out, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 6)
		if _, err := out.Read(buf); err != nil || string(buf) != "ready\n" {
			t.Fatalf("read ready: %q %v", buf, err)
		}
		cmd.Process.Signal(syscall.SIGINT)
		rest := make([]byte, 64)
		n, _ := out.Read(rest)
		err := cmd.Wait()
		code := cmd.ProcessState.ExitCode()
		if code != 9 || !strings.Contains(string(rest[:n]), "got-int") {
			t.Fatalf("after SIGINT: code %d (%v) out %q, want 9 and got-int", code, err, rest[:n])
		}
	})

	t.Run("exec process ends when its client dies", func(t *testing.T) {
		cmd := exec.Command(testcluster.Binary(t), "exec", "--", "sh", "-c", `echo $NEFELE_GPID; exec sleep 1000`)
		cmd.Env = append(os.Environ(), "NEFELE_ADDR="+a.Addr)
		out, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 32)
		n, _ := out.Read(buf)
		gpid := strings.TrimSpace(string(buf[:n]))
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		end := wait(t, a.Client(), gpid)
		if end.State != exited || !strings.Contains(end.Reason, "exec session ended") {
			t.Fatalf("exec'd process after its client died: %v %q", end.State, end.Reason)
		}
	})

	t.Run("wait exits with the process status", func(t *testing.T) {
		g := strings.TrimSpace(cli("run", "--", "sh", "-c", "sleep 0.2; exit 5").Stdout)
		if r := cli("wait", g); r.Code != 5 {
			t.Fatalf("wait: code %d, want 5", r.Code)
		}
		g = strings.TrimSpace(cli("run", "--", "sleep", "60").Stdout)
		cli("kill", "-s", "KILL", g)
		if r := cli("wait", g); r.Code != 128+9 {
			t.Fatalf("wait after KILL: code %d, want 137", r.Code)
		}
	})

	t.Run("logs, inspect, restart, events, nodes, version", func(t *testing.T) {
		g := strings.TrimSpace(cli("run", "--name", "talker", "--", "sh", "-c", "echo hello; echo oops >&2; sleep 60").Stdout)
		waitLog(t, a.Client(), g, "hello")
		if r := cli("logs", "--stdout", "talker"); r.Stdout != "hello\n" {
			t.Fatalf("logs --stdout: %q", r.Stdout)
		}
		if r := cli("logs", "--stderr", "talker"); r.Stdout != "" || r.Stderr != "oops\n" {
			t.Fatalf("logs --stderr: out %q err %q", r.Stdout, r.Stderr)
		}
		var rec map[string]any
		if err := json.Unmarshal([]byte(cli("inspect", g).Stdout), &rec); err != nil || rec["gpid"] != g {
			t.Fatalf("inspect: %v %v", rec, err)
		}
		pid := rec["pid"]
		if r := cli("restart", "talker"); r.Code != 0 {
			t.Fatalf("restart: %d %s", r.Code, r.Stderr)
		}
		json.Unmarshal([]byte(cli("inspect", "talker").Stdout), &rec)
		if rec["gpid"] != g || rec["pid"] == pid {
			t.Fatalf("restart must keep the GPID and change the pid: %v", rec)
		}
		cli("stop", "--timeout", "1s", "talker")
		ev := cli("events")
		if !strings.Contains(ev.Stdout, g) || !strings.Contains(ev.Stdout, "running") {
			t.Fatalf("events lack %s:\n%s", g, ev.Stdout)
		}
		var nodes []map[string]any
		if err := json.Unmarshal([]byte(cli("nodes", "-o", "json").Stdout), &nodes); err != nil || len(nodes) != 1 {
			t.Fatalf("nodes -o json: %v %v", nodes, err)
		}
		for _, k := range []string{"name", "address", "state", "pid", "server", "labels"} {
			if _, ok := nodes[0][k]; !ok {
				t.Fatalf("nodes JSON lacks %q: %v", k, nodes[0])
			}
		}
		if nodes[0]["pid"] != float64(a.PID()) {
			t.Fatalf("nodes pid %v, want the agent's %d", nodes[0]["pid"], a.PID())
		}
		if r := cli("version"); r.Code != 0 || r.Stdout == "" {
			t.Fatalf("version: %d %q", r.Code, r.Stdout)
		}
	})

	t.Run("events -f follows", func(t *testing.T) {
		cmd := exec.Command(testcluster.Binary(t), "events", "-f")
		cmd.Env = append(os.Environ(), "NEFELE_ADDR="+a.Addr)
		out, _ := cmd.StdoutPipe()
		cmd.Start()
		defer cmd.Process.Kill()
		g := strings.TrimSpace(cli("run", "--", "true").Stdout)
		buf := make([]byte, 0, 1<<16)
		deadline := time.Now().Add(30 * time.Second)
		for !strings.Contains(string(buf), g+" ") && time.Now().Before(deadline) {
			chunk := make([]byte, 4096)
			n, err := out.Read(chunk)
			buf = append(buf, chunk[:n]...)
			if err != nil {
				break
			}
		}
		if !strings.Contains(string(buf), g) {
			t.Fatalf("events -f never showed %s", g)
		}
	})

	t.Run("bad input", func(t *testing.T) {
		cases := []struct {
			args []string
			code int
			want string
		}{
			{[]string{"kill", "p99999"}, 1, "no such process: p99999"},
			{[]string{"logs", "nosuch"}, 1, "no such process: nosuch"},
			{[]string{"wait", "nosuch"}, 1, "no such process: nosuch"},
			{[]string{"stop", "nosuch"}, 1, "no such process: nosuch"},
			{[]string{"inspect", "nosuch"}, 1, "no such process: nosuch"},
			{[]string{"kill", "-s", "NOPE", "nosuch"}, 1, "TERM"},
			{[]string{"run", "--restart", "sometimes", "--", "true"}, 2, "--restart"},
			{[]string{"run", "--replicas", "0", "--", "true"}, 2, "--replicas"},
			{[]string{"run", "--max-restarts", "-1", "--", "true"}, 2, "--max-restarts"},
			{[]string{"run", "--env", "NOEQUALS", "--", "true"}, 2, "--env"},
			{[]string{"stop", "--timeout", "abc", "x"}, 2, "--timeout"},
			{[]string{"logs", "--tail", "x", "x"}, 2, "--tail"},
			{[]string{"ps", "-o", "yaml"}, 2, "table, json"},
			{[]string{"run", "--name", "Bad Name", "--", "true"}, 1, "invalid name"},
			{[]string{"run", "--name", "p12", "--", "true"}, 1, "GPID"},
		}
		for _, tc := range cases {
			r := cli(tc.args...)
			if r.Code != tc.code || !strings.Contains(r.Stderr, tc.want) {
				t.Errorf("nefele %s: code %d stderr %q, want code %d and %q", strings.Join(tc.args, " "), r.Code, r.Stderr, tc.code, tc.want)
			}
		}
		for _, args := range [][]string{{"run"}, {"run", "--"}, {"exec", "--"}} {
			r := cli(args...)
			if r.Code == 0 || !strings.Contains(r.Stderr+r.Stdout, "Usage") {
				t.Errorf("nefele %s: code %d, want usage: %q", strings.Join(args, " "), r.Code, r.Stderr)
			}
		}
		r := testcluster.RunCLI(t, "127.0.0.1:1", nil, "ps")
		if r.Code != 1 || !strings.Contains(r.Stderr, "127.0.0.1:1") || !strings.Contains(r.Stderr, "nefele dev") {
			t.Errorf("unreachable agent: code %d %q", r.Code, r.Stderr)
		}
		if r := cli("ps"); r.Code != 0 {
			t.Fatalf("the agent did not survive bad input: %d %s", r.Code, r.Stderr)
		}
		if !a.Running() {
			t.Fatal("agent died")
		}
	})

	t.Run("the CLI works from inside a managed process", func(t *testing.T) {
		r := cli("exec", "--", testcluster.Binary(t), "inspect", "-o", "json", "self-check-missing")
		if r.Code != 1 || !strings.Contains(r.Stderr, "no such process: self-check-missing") {
			t.Fatalf("nefele inside a process (NEFELE_ADDR from the agent): code %d err %q", r.Code, r.Stderr)
		}
		r = cli("exec", "--", "sh", "-c", testcluster.Binary(t)+` inspect "$NEFELE_GPID"`)
		if r.Code != 0 || !strings.Contains(r.Stdout, `"state": "running"`) {
			t.Fatalf("a process inspecting itself: code %d out %q err %q", r.Code, r.Stdout, r.Stderr)
		}
	})

	t.Run("JSON over HTTP refuses unknown fields", func(t *testing.T) {
		url := "http://" + a.Addr + "/nefele.v1.ProcessService/List"
		res, err := http.Post(url, "application/json", strings.NewReader(`{"alll":true}`))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), `unknown field \"alll\"`) {
			t.Fatalf("misspelt field: %d %s", res.StatusCode, body)
		}
		res, err = http.Post(url, "application/json", strings.NewReader(`{"all":true}`))
		if err != nil || res.StatusCode != http.StatusOK {
			t.Fatalf("List over JSON: %v %v", res, err)
		}
		res.Body.Close()
	})

	t.Run("json errors carry the reason", func(t *testing.T) {
		r := cli("inspect", "-o", "json", "nosuch")
		var e map[string]string
		if err := json.Unmarshal([]byte(r.Stderr), &e); err != nil || e["reason"] != "no_such_process" {
			t.Fatalf("json error: %q (%v)", r.Stderr, err)
		}
	})
}
