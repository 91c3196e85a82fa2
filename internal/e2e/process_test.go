package e2e

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	nefelev1 "github.com/nefele/nefele/api/nefele/v1"
	"github.com/nefele/nefele/internal/testcluster"
	nefele "github.com/nefele/nefele/sdk"
)

const (
	running = nefelev1.State_STATE_RUNNING
	exited  = nefelev1.State_STATE_EXITED
	failed  = nefelev1.State_STATE_FAILED
	backoff = nefelev1.State_STATE_BACKOFF
)

func TestProcesses(t *testing.T) {
	a := testcluster.StartAgent(t)
	c := a.Client()

	t.Run("environment and record", func(t *testing.T) {
		p := spawn(t, c, nefele.SpawnOptions{}, &nefele.Spec{
			Command: []string{"sh", "-c", `echo "$NEFELE_ADDR $NEFELE_GPID $NEFELE_NODE $EXTRA"`},
			Env:     []string{"EXTRA=yes"},
		})[0]
		if !strings.HasPrefix(p.Gpid, "p") || p.Pid == 0 || p.Node == "" {
			t.Fatalf("record %v: want a GPID, a pid and a node", p)
		}
		end := wait(t, c, p.Gpid)
		if end.State != exited || end.ExitCode != 0 {
			t.Fatalf("ended %v %d, want exited 0", end.State, end.ExitCode)
		}
		var out bytes.Buffer
		if err := c.Logs(ctxT(t), p.Gpid, nefele.LogsOptions{}, &out, &out); err != nil {
			t.Fatal(err)
		}
		want := a.Addr + " " + p.Gpid + " " + p.Node + " yes\n"
		if out.String() != want {
			t.Fatalf("env seen by the process %q, want %q", out.String(), want)
		}
	})

	t.Run("gpids are unique and never reused", func(t *testing.T) {
		seen := map[string]bool{}
		for range 3 {
			for _, p := range spawn(t, c, nefele.SpawnOptions{}, &nefele.Spec{Command: []string{"true"}}) {
				if seen[p.Gpid] {
					t.Fatalf("GPID %s handed out twice", p.Gpid)
				}
				seen[p.Gpid] = true
			}
		}
	})

	t.Run("never", func(t *testing.T) {
		p := spawn(t, c, nefele.SpawnOptions{}, sh("exit 7"))[0]
		end := wait(t, c, p.Gpid)
		if end.State != exited || end.ExitCode != 7 || end.Restarts != 0 {
			t.Fatalf("got %v code %d restarts %d, want exited 7 without restarts", end.State, end.ExitCode, end.Restarts)
		}
	})

	t.Run("on-failure gives up after max restarts with backoff", func(t *testing.T) {
		spec := sh("exit 3")
		spec.Restart, spec.MaxRestarts = nefelev1.RestartPolicy_RESTART_POLICY_ON_FAILURE, 2
		p := spawn(t, c, nefele.SpawnOptions{}, spec)[0]
		b := waitTo(t, c, p.Gpid, backoff, 1)
		if got := get(t, c, p.Gpid); got.State != backoff && got.Restarts == 0 {
			t.Fatalf("after the first crash the state is %v, want backoff", got.State)
		}
		if !strings.Contains(b.Reason, "restarting in 1s") {
			t.Fatalf("first backoff reason %q, want a 1s delay", b.Reason)
		}
		b2 := waitTo(t, c, p.Gpid, backoff, 2)
		if !strings.Contains(b2.Reason, "restarting in 2s") {
			t.Fatalf("second backoff reason %q, want the delay doubled to 2s", b2.Reason)
		}
		end := wait(t, c, p.Gpid)
		if end.State != failed || end.Restarts != 2 || end.ExitCode != 3 {
			t.Fatalf("got %v restarts %d code %d, want failed after 2 restarts", end.State, end.Restarts, end.ExitCode)
		}
		if !strings.Contains(end.Reason, "gave up after 2 restarts") {
			t.Fatalf("reason %q", end.Reason)
		}
	})

	t.Run("on-failure does not restart a success", func(t *testing.T) {
		spec := sh("exit 0")
		spec.Restart = nefelev1.RestartPolicy_RESTART_POLICY_ON_FAILURE
		p := spawn(t, c, nefele.SpawnOptions{}, spec)[0]
		if end := wait(t, c, p.Gpid); end.State != exited || end.Restarts != 0 {
			t.Fatalf("got %v restarts %d, want exited without restart", end.State, end.Restarts)
		}
	})

	t.Run("always restarts a success and keeps the GPID", func(t *testing.T) {
		spec := sh("exit 0")
		spec.Restart, spec.MaxRestarts = nefelev1.RestartPolicy_RESTART_POLICY_ALWAYS, 1
		p := spawn(t, c, nefele.SpawnOptions{}, spec)[0]
		end := wait(t, c, p.Gpid)
		if end.State != failed || end.Restarts != 1 || end.Gpid != p.Gpid {
			t.Fatalf("got %v restarts %d, want one restart in place then failed", end.State, end.Restarts)
		}
	})

	t.Run("group defaults to always", func(t *testing.T) {
		procs := spawn(t, c, nefele.SpawnOptions{Name: "grp", Replicas: 2}, &nefele.Spec{Command: []string{"sleep", "60"}})
		if len(procs) != 2 || procs[0].Spec.Restart != nefelev1.RestartPolicy_RESTART_POLICY_ALWAYS {
			t.Fatalf("group of %d with policy %v, want 2 with always", len(procs), procs[0].Spec.Restart)
		}
		if procs[1].Replica != 1 || procs[1].Group != "grp" {
			t.Fatalf("second replica %v", procs[1])
		}
		if _, err := c.Spawn(ctxT(t), &nefele.Spec{Command: []string{"true"}}, nefele.SpawnOptions{Name: "grp"}); !errors.Is(err, nefele.ErrNameInUse) {
			t.Fatalf("second spawn with a live name: %v, want ErrNameInUse", err)
		}
		stopped, err := c.Stop(ctxT(t), "grp", 0)
		if err != nil || len(stopped) != 2 || stopped[0].State != exited {
			t.Fatalf("stop group: %v %v", stopped, err)
		}
		// The name is free again once its processes ended.
		spawn(t, c, nefele.SpawnOptions{Name: "grp"}, &nefele.Spec{Command: []string{"true"}})
	})

	t.Run("kill applies the restart policy, stop does not restart", func(t *testing.T) {
		spec := &nefele.Spec{Command: []string{"sleep", "60"}, Restart: nefelev1.RestartPolicy_RESTART_POLICY_ALWAYS}
		p := spawn(t, c, nefele.SpawnOptions{}, spec)[0]
		if _, err := c.Signal(ctxT(t), p.Gpid, "KILL"); err != nil {
			t.Fatal(err)
		}
		b := waitTo(t, c, p.Gpid, backoff, 1)
		if !strings.Contains(b.Reason, "killed by signal KILL") {
			t.Fatalf("backoff reason %q", b.Reason)
		}
		waitTo(t, c, p.Gpid, running, 2)
		end, err := c.Stop(ctxT(t), p.Gpid, 0)
		if err != nil || end[0].State != exited || !strings.Contains(end[0].Reason, "stopped") {
			t.Fatalf("stop: %v %v", end, err)
		}
	})

	t.Run("restart in place", func(t *testing.T) {
		p := spawn(t, c, nefele.SpawnOptions{}, &nefele.Spec{Command: []string{"sleep", "60"}})[0]
		r, err := c.Restart(ctxT(t), p.Gpid)
		if err != nil {
			t.Fatal(err)
		}
		if r[0].Gpid != p.Gpid || r[0].Pid == p.Pid || r[0].State != running || r[0].Restarts != 1 {
			t.Fatalf("after restart %v, want same GPID, new pid, running, 1 restart", r[0])
		}
		if alive(int(p.Pid)) {
			t.Fatalf("old pid %d still alive after restart", p.Pid)
		}
		c.Stop(ctxT(t), p.Gpid, 0)
		r, err = c.Restart(ctxT(t), p.Gpid)
		if err != nil || r[0].State != running {
			t.Fatalf("restart of a stopped process: %v %v", r, err)
		}
		c.Stop(ctxT(t), p.Gpid, 0)
	})

	t.Run("restarts asked for do not count towards max restarts", func(t *testing.T) {
		spec := &nefele.Spec{Command: []string{"sleep", "60"}, Restart: nefelev1.RestartPolicy_RESTART_POLICY_ON_FAILURE, MaxRestarts: 1}
		p := spawn(t, c, nefele.SpawnOptions{}, spec)[0]
		for range 2 {
			if _, err := c.Restart(ctxT(t), p.Gpid); err != nil {
				t.Fatal(err)
			}
		}
		c.Signal(ctxT(t), p.Gpid, "KILL")
		waitTo(t, c, p.Gpid, backoff, 1)
		waitTo(t, c, p.Gpid, running, 4)
		c.Signal(ctxT(t), p.Gpid, "KILL")
		end := wait(t, c, p.Gpid)
		if end.State != failed || end.Restarts != 3 {
			t.Fatalf("got %v after %d restarts, want failed after 2 asked for and 1 by the policy", end.State, end.Restarts)
		}
	})

	t.Run("graceful stop reaches the whole tree", func(t *testing.T) {
		p := spawn(t, c, nefele.SpawnOptions{}, sh(`trap 'echo bye; exit 0' TERM; sleep 1000 & sleep 1000 & setsid sh -c 'echo escapee $$; exec sleep 1000' & sleep 0.1; echo ready; while :; do sleep 0.05; done`))[0]
		var out bytes.Buffer
		waitLog(t, c, p.Gpid, "ready")
		escapee := escapeePID(t, c, p.Gpid)
		if n := len(groupMembers(int(p.Pid))); n < 3 {
			t.Fatalf("process group has %d members, want the shell and its sleeps", n)
		}
		end, err := c.Stop(ctxT(t), p.Gpid, 0)
		if err != nil || end[0].State != exited {
			t.Fatalf("stop: %v %v", end, err)
		}
		c.Logs(ctxT(t), p.Gpid, nefele.LogsOptions{Tail: -1}, &out, &out)
		if !strings.Contains(out.String(), "bye") {
			t.Fatalf("the process did not get its stop signal: log %q", out.String())
		}
		eventually(t, "the group is gone", func() bool { return len(groupMembers(int(p.Pid))) == 0 })
		// A descendant that left the group with setsid is reached through
		// the process's cgroup, where the host lets the agent make one.
		if cgroupsEnabled(a.DataDir) {
			eventually(t, "the setsid escapee is gone", func() bool { return !alive(escapee) })
		} else {
			syscall.Kill(escapee, syscall.SIGKILL)
			t.Log("no cgroup v2 here: a setsid escapee outlives stop")
		}
	})

	t.Run("stop escalates to SIGKILL after the grace", func(t *testing.T) {
		p := spawn(t, c, nefele.SpawnOptions{}, sh(`trap '' TERM; echo ready; while :; do sleep 0.05; done`))[0]
		waitLog(t, c, p.Gpid, "ready")
		end, err := c.Stop(ctxT(t), p.Gpid, 300*time.Millisecond)
		if err != nil || end[0].Signal != "KILL" {
			t.Fatalf("stop: %v %v, want killed by KILL", end, err)
		}
	})

	t.Run("cannot start", func(t *testing.T) {
		procs, err := c.Spawn(ctxT(t), &nefele.Spec{Command: []string{"/no/such/program"}}, nefele.SpawnOptions{})
		if !errors.Is(err, nefele.ErrNotFound) || len(procs) != 1 || procs[0].State != failed {
			t.Fatalf("spawn of a missing program: %v %v, want ErrNotFound and a failed record", procs, err)
		}
		if !strings.Contains(err.Error(), "/no/such/program") {
			t.Fatalf("error %q does not name the path", err)
		}
		dir := t.TempDir()
		os.WriteFile(dir+"/noexec", []byte("#!/bin/sh\n"), 0o644)
		_, err = c.Spawn(ctxT(t), &nefele.Spec{Command: []string{dir + "/noexec"}}, nefele.SpawnOptions{})
		if !errors.Is(err, nefele.ErrNotExecutable) {
			t.Fatalf("spawn of a non-executable file: %v, want ErrNotExecutable", err)
		}
	})

	t.Run("no such process", func(t *testing.T) {
		for _, target := range []string{"p99999", "nosuchname"} {
			_, err := c.Get(ctxT(t), target)
			if !errors.Is(err, nefele.ErrNoProcess) || err.Error() != "no such process: "+target {
				t.Fatalf("get %s: %v", target, err)
			}
		}
	})

	t.Run("logs tail and follow", func(t *testing.T) {
		p := spawn(t, c, nefele.SpawnOptions{}, sh(`for i in 1 2 3 4 5; do echo out$i; echo err$i >&2; done; echo last`))[0]
		wait(t, c, p.Gpid)
		var out, errb bytes.Buffer
		if err := c.Logs(ctxT(t), p.Gpid, nefele.LogsOptions{Tail: 2, Stream: nefele.LogStdout}, &out, &errb); err != nil {
			t.Fatal(err)
		}
		if out.String() != "out5\nlast\n" || errb.Len() != 0 {
			t.Fatalf("tail 2 of stdout: %q / %q", out.String(), errb.String())
		}
		out.Reset()
		c.Logs(ctxT(t), p.Gpid, nefele.LogsOptions{Tail: -1, Stream: nefele.LogStderr}, &out, &out)
		if out.String() != "err1\nerr2\nerr3\nerr4\nerr5\n" {
			t.Fatalf("stderr: %q", out.String())
		}
		// The process has ended: follow returns at the end of its logs.
		out.Reset()
		if err := c.Logs(ctxT(t), p.Gpid, nefele.LogsOptions{Follow: true, Tail: 1, Stream: nefele.LogStdout}, &out, &out); err != nil {
			t.Fatal(err)
		}
		if out.String() != "last\n" {
			t.Fatalf("follow: %q", out.String())
		}
	})

	t.Run("follow new output only", func(t *testing.T) {
		p := spawn(t, c, nefele.SpawnOptions{}, sh(`echo old; sleep 1; echo new`))[0]
		waitLog(t, c, p.Gpid, "old")
		var out bytes.Buffer
		if err := c.Logs(ctxT(t), p.Gpid, nefele.LogsOptions{Follow: true, NewOnly: true, Stream: nefele.LogStdout}, &out, &out); err != nil {
			t.Fatal(err)
		}
		if out.String() != "new\n" {
			t.Fatalf("follow of new output only: %q", out.String())
		}
	})

	t.Run("follow sees output as it is written", func(t *testing.T) {
		p := spawn(t, c, nefele.SpawnOptions{}, sh(`echo one; sleep 0.3; echo two; sleep 0.3; echo three`))[0]
		var out bytes.Buffer
		if err := c.Logs(ctxT(t), p.Gpid, nefele.LogsOptions{Follow: true, Tail: -1, Stream: nefele.LogStdout}, &out, &out); err != nil {
			t.Fatal(err)
		}
		if out.String() != "one\ntwo\nthree\n" {
			t.Fatalf("followed %q", out.String())
		}
	})

	t.Run("list and all", func(t *testing.T) {
		p := spawn(t, c, nefele.SpawnOptions{}, &nefele.Spec{Command: []string{"sleep", "60"}})[0]
		live, _ := c.List(ctxT(t), false)
		all, _ := c.List(ctxT(t), true)
		if !contains(live, p.Gpid) || len(all) <= len(live) {
			t.Fatalf("live %d all %d", len(live), len(all))
		}
		for _, q := range live {
			if q.State == exited || q.State == failed {
				t.Fatalf("ps lists ended %s", q.Gpid)
			}
		}
		c.Stop(ctxT(t), p.Gpid, 0)
	})

	t.Run("nodes and version", func(t *testing.T) {
		nodes, err := c.Nodes(ctxT(t))
		if err != nil || len(nodes) != 1 || nodes[0].State != "up" || int(nodes[0].Pid) != a.PID() || nodes[0].Address != a.Addr {
			t.Fatalf("nodes %v %v", nodes, err)
		}
		v, err := c.Version(ctxT(t))
		if err != nil || v.Version == "" {
			t.Fatalf("version %v %v", v, err)
		}
	})
}

func contains(ps []*nefele.Process, gpid string) bool {
	for _, p := range ps {
		if p.Gpid == gpid {
			return true
		}
	}
	return false
}

// waitLog follows gpid's stdout until it holds want.
func waitLog(t *testing.T, c *nefele.Client, gpid, want string) {
	t.Helper()
	w := &matchWriter{want: want, found: make(chan struct{})}
	ctx := ctxT(t)
	go c.Logs(ctx, gpid, nefele.LogsOptions{Follow: true, Tail: -1, Stream: nefele.LogStdout}, w, w)
	select {
	case <-w.found:
	case <-ctx.Done():
		t.Fatalf("%s never wrote %q", gpid, want)
	}
}

type matchWriter struct {
	buf   bytes.Buffer
	want  string
	found chan struct{}
	done  bool
}

func (m *matchWriter) Write(b []byte) (int, error) {
	m.buf.Write(b)
	if !m.done && strings.Contains(m.buf.String(), m.want) {
		m.done = true
		close(m.found)
	}
	return len(b), nil
}

func TestAdoptionAfterAgentSIGKILL(t *testing.T) {
	a := testcluster.StartAgent(t)
	c := a.Client()
	keep := spawn(t, c, nefele.SpawnOptions{Name: "keeper"}, &nefele.Spec{Command: []string{"sleep", "600"}})[0]
	gone := spawn(t, c, nefele.SpawnOptions{}, &nefele.Spec{Command: []string{"sleep", "600"}})[0]
	oldAddr := a.Addr
	a.Kill()
	if !alive(int(keep.Pid)) || !alive(int(gone.Pid)) {
		t.Fatal("processes died with their agent")
	}
	syscall.Kill(int(gone.Pid), syscall.SIGKILL)
	eventually(t, "the killed process is gone", func() bool { return !alive(int(gone.Pid)) })

	a.Restart()
	c = a.Client()
	got := get(t, c, "keeper")
	if got.State != running || got.Pid != keep.Pid || got.Gpid != keep.Gpid {
		t.Fatalf("after adoption %v, want running with the same pid %d", got, keep.Pid)
	}
	if n := len(withGPID(oldAddr, keep.Gpid)); n != 1 {
		for _, pid := range withGPID(oldAddr, keep.Gpid) {
			cmdline, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
			t.Logf("pid %d: %q", pid, cmdline)
		}
		t.Fatalf("%d processes carry %s, want exactly 1 (no duplicate start)", n, keep.Gpid)
	}
	g := wait(t, c, gone.Gpid)
	// Its status is unknown, unless the kernel still had it (a zombie not yet
	// reaped by init, read through its pidfd on Linux 6.15 and later).
	if g.State != exited || !strings.Contains(g.Reason, "unknown") && g.Signal != "KILL" {
		t.Fatalf("process that died while the agent was down: %v %q, want exited, status unknown or KILL", g.State, g.Reason)
	}
	var out bytes.Buffer
	if err := c.Logs(ctxT(t), "keeper", nefele.LogsOptions{Tail: -1}, &out, &out); err != nil {
		t.Fatalf("logs of an adopted process: %v", err)
	}
	if _, err := c.Signal(ctxT(t), "keeper", "TERM"); err != nil {
		t.Fatalf("kill of an adopted process: %v", err)
	}
	end := wait(t, c, "keeper")
	if end.State != exited || alive(int(keep.Pid)) {
		t.Fatalf("adopted process after TERM: %v (alive %v)", end.State, alive(int(keep.Pid)))
	}
	// Linux 6.15 and later tell the exit status of a process that is not
	// our child through its pidfd; older kernels leave it unknown.
	if kernelAtLeast(6, 15) && end.Signal != "TERM" {
		t.Fatalf("adopted process killed by TERM recorded as %q (code %d), want signal TERM", end.Signal, end.ExitCode)
	}
}

func TestAgentShutdownStopsProcesses(t *testing.T) {
	a := testcluster.StartAgent(t)
	c := a.Client()
	p := spawn(t, c, nefele.SpawnOptions{}, sh(`trap 'echo bye; exit 0' TERM; echo ready; while :; do sleep 0.05; done`))[0]
	waitLog(t, c, p.Gpid, "ready")
	a.Stop()
	if alive(int(p.Pid)) {
		t.Fatalf("pid %d outlived a graceful agent shutdown", p.Pid)
	}
	a.Restart()
	c = a.Client()
	end := get(t, c, p.Gpid)
	if end.State != exited || !strings.Contains(end.Reason, "agent shut down") || end.ExitCode != 0 {
		t.Fatalf("final record %v %q code %d, want exited 0 by agent shutdown", end.State, end.Reason, end.ExitCode)
	}
}

func TestSecondAgentOnLockedDataDir(t *testing.T) {
	a := testcluster.StartAgent(t)
	r := testcluster.RunCLI(t, a.Addr, nil, "dev", "--data-dir", a.DataDir, "--addr", "127.0.0.1:0")
	if r.Code == 0 || !strings.Contains(r.Stderr, "in use by another agent (pid "+strconv.Itoa(a.PID())+")") {
		t.Fatalf("second agent: code %d stderr %q", r.Code, r.Stderr)
	}
	if !a.Running() {
		t.Fatal("the first agent died")
	}
}

func TestLogRotation(t *testing.T) {
	a := testcluster.StartAgent(t, "--log-max-size", "4KiB", "--log-files", "3", "--log-check-interval", "50ms")
	c := a.Client()
	// 200 lines of 100 bytes in bursts of 5,000 bytes, each over the cap,
	// with pauses so that each burst is rotated away.
	script := `i=0; while [ $i -lt 200 ]; do printf '%099d\n' $i; i=$((i+1)); [ $((i % 50)) -eq 0 ] && sleep 0.3; done`
	p := spawn(t, c, nefele.SpawnOptions{}, sh(script))[0]
	wait(t, c, p.Gpid)
	live := logOf(t, a.DataDir)
	eventually(t, "the log was rotated twice", func() bool {
		_, err := os.Stat(live + ".2")
		return err == nil
	})
	if _, err := os.Stat(live + ".3"); err == nil {
		t.Fatal("more files kept than --log-files 3 allows")
	}
	for _, f := range []string{live, live + ".1", live + ".2"} {
		st, err := os.Stat(f)
		if err != nil || st.Size() > 3*4096 {
			t.Fatalf("%s: %v size %d, want at most about the cap", f, err, st.Size())
		}
	}
	var out bytes.Buffer
	if err := c.Logs(ctxT(t), p.Gpid, nefele.LogsOptions{Tail: 1, Stream: nefele.LogStdout}, &out, &out); err != nil {
		t.Fatal(err)
	}
	if want := strings.Repeat("0", 96) + "199\n"; out.String() != want {
		t.Fatalf("last line after rotation %q, want %q", out.String(), want)
	}
}

// escapeePID reads the pid that the test script's setsid child printed.
func escapeePID(t *testing.T, c *nefele.Client, gpid string) int {
	t.Helper()
	var out bytes.Buffer
	c.Logs(ctxT(t), gpid, nefele.LogsOptions{Tail: -1, Stream: nefele.LogStdout}, &out, &out)
	for _, line := range strings.Split(out.String(), "\n") {
		if rest, ok := strings.CutPrefix(line, "escapee "); ok {
			pid, err := strconv.Atoi(rest)
			if err == nil {
				return pid
			}
		}
	}
	t.Fatalf("no escapee pid in %q", out.String())
	return 0
}

// cgroupsEnabled reports whether the agent tracks processes in cgroups.
func cgroupsEnabled(dataDir string) bool {
	b, err := os.ReadFile(dataDir + "/cgroup")
	return err == nil && strings.TrimSpace(string(b)) != ""
}

// logOf returns the one stdout log of an agent that has been rotated.
func logOf(t *testing.T, dataDir string) string {
	t.Helper()
	var found []string
	eventually(t, "a stdout log is rotated", func() bool {
		found, _ = filepath.Glob(dataDir + "/logs/*.stdout.log.1")
		return len(found) > 0
	})
	if len(found) != 1 {
		t.Fatalf("rotated stdout logs: %v, want one", found)
	}
	return strings.TrimSuffix(found[0], ".1")
}

func TestEndedProcessesAreForgottenAfterRetention(t *testing.T) {
	a := testcluster.StartAgent(t, "--retention", "300ms", "--gc-interval", "50ms")
	c := a.Client()
	p := spawn(t, c, nefele.SpawnOptions{Name: "brief"}, sh("echo bye"))[0]
	keep := spawn(t, c, nefele.SpawnOptions{}, &nefele.Spec{Command: []string{"sleep", "60"}})[0]
	wait(t, c, p.Gpid)
	log := logOfGPID(t, a.DataDir, "bye\n")
	eventually(t, "the ended process is forgotten", func() bool {
		_, err := c.Get(ctxT(t), p.Gpid)
		return errors.Is(err, nefele.ErrNoProcess)
	})
	if _, err := os.Stat(log); !os.IsNotExist(err) {
		t.Fatalf("log %s of a forgotten process is still there: %v", log, err)
	}
	if _, err := c.Get(ctxT(t), "brief"); !errors.Is(err, nefele.ErrNoProcess) {
		t.Fatalf("name of a forgotten process: %v", err)
	}
	if got := get(t, c, keep.Gpid); got.State != running {
		t.Fatalf("a running process was touched: %v", got.State)
	}
}

// logOfGPID returns the stdout log that holds exactly content.
func logOfGPID(t *testing.T, dataDir, content string) string {
	t.Helper()
	paths, _ := filepath.Glob(dataDir + "/logs/*.stdout.log")
	for _, p := range paths {
		if b, err := os.ReadFile(p); err == nil && string(b) == content {
			return p
		}
	}
	t.Fatalf("no stdout log holds %q", content)
	return ""
}
