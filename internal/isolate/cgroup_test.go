package isolate

import (
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

func TestDisabledTrackerIsANoOp(t *testing.T) {
	var tr Tracker
	g, fd, err := tr.Create("p1")
	if g != nil || fd != -1 || err != nil || tr.Enabled() || tr.Open("p1") != nil {
		t.Fatalf("disabled tracker made something: %v %d %v", g, fd, err)
	}
	if g.Kill() != nil || !g.Empty() || g.Remove() != nil || tr.Close() != nil {
		t.Fatal("nil group methods must be no-ops")
	}
}

func TestGroupKillReachesEveryProcess(t *testing.T) {
	tr, err := NewTracker("nefele-isolate-test-" + time.Now().Format("150405.000000000"))
	if err != nil {
		t.Skipf("no writable cgroup v2 here (needs root): %v", err)
	}
	t.Cleanup(func() { tr.Close() })
	g, fd, err := tr.Create("p1")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Remove() })
	cmd := exec.Command("sh", "-c", "setsid sleep 1000 & sleep 1000")
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: fd, Setsid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	syscall.Close(fd)
	deadline := time.Now().Add(10 * time.Second)
	for pids, _ := g.pids(); len(pids) < 3; pids, _ = g.pids() {
		if time.Now().After(deadline) {
			t.Fatalf("cgroup holds %v, want the shell and both sleeps", pids)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := g.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	for !g.Empty() {
		if time.Now().After(deadline) {
			t.Fatal("processes outlived the cgroup kill")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := g.Remove(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(g.path); !os.IsNotExist(err) {
		t.Fatalf("cgroup %s not removed", g.path)
	}
}
