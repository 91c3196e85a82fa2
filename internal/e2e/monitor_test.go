package e2e

import (
	"strings"
	"syscall"
	"testing"
	"time"

	nefelev1 "github.com/nefele/nefele/api/nefele/v1"
	"github.com/nefele/nefele/internal/testcluster"
	nefele "github.com/nefele/nefele/sdk"
)

func oneExit(t *testing.T, ch <-chan nefele.Exit, what string) nefele.Exit {
	t.Helper()
	select {
	case e, ok := <-ch:
		if !ok {
			t.Fatalf("%s: monitor closed without an exit", what)
		}
		if _, more := <-ch; more {
			t.Fatalf("%s: a second exit", what)
		}
		return e
	case <-time.After(30 * time.Second):
		t.Fatalf("%s: no exit after 30s", what)
	}
	return nefele.Exit{}
}

// TestMonitorAndLink: a monitor gets exactly one exit (also of a process
// gone already, unknown, or lost with its node); linked processes are
// stopped, or told when they trap.
func TestMonitorAndLink(t *testing.T) {
	agents := testcluster.Start(t, 3)
	c := agents[0].Client()
	ctx := ctxT(t)

	h, err := c.Start(ctx, &nefele.Spec{Command: []string{"sleep", "600"}}, nefele.SpawnOptions{})
	if err != nil {
		t.Fatal(err)
	}
	mon := h.Monitor(ctx)
	if err := h.Kill(ctx); err != nil {
		t.Fatal(err)
	}
	if e := oneExit(t, mon, "monitor of a killed process"); e.Signal != "KILL" || e.GPID != h.GPID {
		t.Fatalf("exit of a killed process: %+v, want signal KILL", e)
	}
	if e := oneExit(t, h.Monitor(ctx), "monitor of an ended process"); e.State != nefelev1.State_STATE_EXITED {
		t.Fatalf("exit of a process ended already: %+v", e)
	}
	if e := oneExit(t, c.Monitor(ctx, "p999999"), "monitor of an unknown process"); !e.NoProcess {
		t.Fatalf("exit of an unknown process: %+v, want NoProcess", e)
	}
	far, err := c.Start(ctx, &nefele.Spec{Command: []string{"sleep", "600"}, Node: "n3"}, nefele.SpawnOptions{})
	if err != nil {
		t.Fatal(err)
	}
	farRec, _ := far.Record(ctx)
	mon = far.Monitor(ctx)

	// Links: a plain link stops the survivor; a trapping one is told.
	b, err := c.Start(ctx, &nefele.Spec{Command: []string{"sleep", "600"}}, nefele.SpawnOptions{})
	if err != nil {
		t.Fatal(err)
	}
	linked := spawn(t, c, nefele.SpawnOptions{}, roleSpec("link "+b.GPID))[0]
	trapper := spawn(t, c, nefele.SpawnOptions{}, roleSpec("link "+b.GPID+" trap"))[0]
	waitLog(t, c, linked.Gpid, "linked "+b.GPID)
	waitLog(t, c, trapper.Gpid, "linked "+b.GPID)
	b.Kill(ctx)
	if end := wait(t, c, linked.Gpid); end.State != nefelev1.State_STATE_EXITED {
		t.Fatalf("the process linked with a killed one: %v, want stopped", end.State)
	}
	waitLog(t, c, trapper.Gpid, "told "+b.GPID+" STATE_EXITED")
	if got := get(t, c, trapper.Gpid); got.State != running {
		t.Fatalf("the trapping process: %v, want still running", got.State)
	}
	// An unlinked process lives on when the other dies.
	other, err := c.Start(ctx, &nefele.Spec{Command: []string{"sleep", "600"}}, nefele.SpawnOptions{})
	if err != nil {
		t.Fatal(err)
	}
	free := spawn(t, c, nefele.SpawnOptions{}, roleSpec("unlink "+other.GPID))[0]
	waitLog(t, c, free.Gpid, "unlinked "+other.GPID)
	other.Kill(ctx)
	other.Wait(ctx)
	time.Sleep(300 * time.Millisecond)
	if got := get(t, c, free.Gpid); got.State != running {
		t.Fatalf("a process that unlinked from one that died: %v, want running", got.State)
	}
	// Linking with a process that has ended fires at once.
	late := spawn(t, c, nefele.SpawnOptions{}, roleSpec("link "+b.GPID))[0]
	if end := wait(t, c, late.Gpid); end.State != nefelev1.State_STATE_EXITED {
		t.Fatalf("a process that linked with an ended one: %v, want stopped", end.State)
	}

	// The death of a node: the monitor of its process says lost.
	agents[2].Kill()
	if e := oneExit(t, mon, "monitor of a process whose node died"); e.State != nefelev1.State_STATE_LOST || !strings.Contains(e.Reason, "n3") {
		t.Fatalf("exit of a process whose node died: %+v, want lost naming n3", e)
	}
	killPid(int(farRec.Pid))
}

// killPid SIGKILLs a process a test left behind (one whose agent it killed).
func killPid(pid int) {
	if pid > 0 {
		syscall.Kill(pid, syscall.SIGKILL)
	}
}
