package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
	"time"

	nefelev1 "github.com/nefele/nefele/api/nefele/v1"
	"github.com/nefele/nefele/internal/testcluster"
	nefele "github.com/nefele/nefele/sdk"
)

func TestMain(m *testing.M) {
	if role := os.Getenv(envRole); role != "" {
		os.Exit(runRole(role))
	}
	if role := os.Getenv(envBenchRole); role != "" {
		os.Exit(runBenchRole(role))
	}
	testcluster.Main(m)
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	t.Cleanup(cancel)
	return ctx
}

var errFound = errors.New("found")

// waitEvent follows the event log (history first) until match accepts an
// event of gpid, and returns that event.
func waitEvent(t *testing.T, c *nefele.Client, gpid string, match func(*nefele.Event) bool) *nefele.Event {
	t.Helper()
	var got *nefele.Event
	err := c.Events(ctxT(t), true, func(e *nefele.Event) error {
		if e.Gpid == gpid && match(e) {
			got = e
			return errFound
		}
		return nil
	})
	if !errors.Is(err, errFound) {
		t.Fatalf("waiting for an event of %s: %v", gpid, err)
	}
	return got
}

// waitTo waits for the nth transition of gpid into state.
func waitTo(t *testing.T, c *nefele.Client, gpid string, state nefelev1.State, nth int) *nefele.Event {
	t.Helper()
	seen := 0
	return waitEvent(t, c, gpid, func(e *nefele.Event) bool {
		if e.To == state {
			seen++
		}
		return seen == nth
	})
}

func spawn(t *testing.T, c *nefele.Client, opts nefele.SpawnOptions, spec *nefele.Spec) []*nefele.Process {
	t.Helper()
	procs, err := c.Spawn(ctxT(t), spec, opts)
	if err != nil {
		t.Fatalf("spawn %v: %v", spec.Command, err)
	}
	return procs
}

func sh(script string) *nefele.Spec { return &nefele.Spec{Command: []string{"sh", "-c", script}} }

func get(t testing.TB, c *nefele.Client, target string) *nefele.Process {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	procs, err := c.Get(ctx, target)
	if err != nil {
		t.Fatalf("get %s: %v", target, err)
	}
	return procs[0]
}

func wait(t *testing.T, c *nefele.Client, target string) *nefele.Process {
	t.Helper()
	procs, err := c.Wait(ctxT(t), target)
	if err != nil {
		t.Fatalf("wait %s: %v", target, err)
	}
	return procs[0]
}

// alive reports whether pid exists and is not a zombie.
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i > 0 && len(s) > i+2 && s[i+2] != 'Z'
}

// groupMembers returns the live pids whose process group is pgid.
func groupMembers(pgid int) []int {
	var out []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if pg, err := syscall.Getpgid(pid); err == nil && pg == pgid && alive(pid) {
			out = append(out, pid)
		}
	}
	return out
}

// withGPID returns the live session leaders whose environment says they
// are gpid of the agent at addr.
func withGPID(addr, gpid string) []int {
	return leadersWithEnv("NEFELE_GPID="+gpid, "NEFELE_ADDR="+addr)
}

// withGPIDAny returns the live session leaders whose environment says they
// are gpid on node.
func withGPIDAny(gpid, node string) []int {
	return leadersWithEnv("NEFELE_GPID="+gpid, "NEFELE_NODE="+node)
}

// leadersWithEnv returns the live session leaders whose environment holds
// every one of vars (KEY=VALUE).
func leadersWithEnv(vars ...string) []int {
	var out []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || !alive(pid) {
			continue
		}
		env, err := os.ReadFile("/proc/" + e.Name() + "/environ")
		if err != nil || !hasAll("\x00"+string(env)+"\x00", vars) {
			continue
		}
		if sid, err := unix.Getsid(pid); err == nil && sid == pid {
			out = append(out, pid)
		}
	}
	return out
}

func hasAll(env string, vars []string) bool {
	for _, v := range vars {
		if !strings.Contains(env, "\x00"+v+"\x00") {
			return false
		}
	}
	return true
}

// eventually polls cond until it holds or 30 s pass; for conditions no
// event announces (a pid disappearing).
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// kernelAtLeast reports whether the running kernel is major.minor or newer.
func kernelAtLeast(major, minor int) bool {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return false
	}
	var ma, mi int
	fmt.Sscanf(unix.ByteSliceToString(u.Release[:]), "%d.%d", &ma, &mi)
	return ma > major || ma == major && mi >= minor
}
