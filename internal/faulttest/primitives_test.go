package faulttest

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/nefele/nefele/internal/testcluster"
)

// TestPartitionReleasesPrimitives cuts off a node whose process holds a key
// bound to its life and whose user holds a lock through `nefele lock`: on
// the majority side both lapse within the lease TTL, so the cut-off holders
// can never act as the holder.
func TestPartitionReleasesPrimitives(t *testing.T) {
	t.Parallel()
	c := startCluster(t)
	const cut, major = 3, 1
	bin := testcluster.Binary(t)
	if r := c.cli(major, major, "run", "--name", "holder", "--node", node(cut), "--restart", "never", "--",
		"sh", "-c", bin+" kv put --bind held/by-process yes && exec sleep 1000"); r.Code != 0 {
		t.Fatalf("run a holder on %s: %s", node(cut), r.Stderr)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	lock := c.net.CommandContext(ctx, cut, bin, "lock", "gate", "--", "sh", "-c", "echo in; exec sleep 1000")
	lock.Env = append(os.Environ(), "NEFELE_ADDR="+c.addr(cut))
	var out testcluster.SyncBuffer
	lock.Stdout = &out
	if err := lock.Start(); err != nil {
		t.Fatal(err)
	}
	defer lock.Wait()
	eventually(t, 30*time.Second, "the process and the lock hold", func() error {
		if r := c.cli(major, major, "kv", "get", "held/by-process"); r.Code != 0 {
			return fmt.Errorf("kv get: %s", r.Stderr)
		}
		if !strings.Contains(out.String(), "in") {
			return fmt.Errorf("nefele lock on %s does not hold yet", node(cut))
		}
		return nil
	})
	if r := c.cli(major, major, "lock", "--try", "gate", "--", "true"); r.Code != 1 {
		t.Fatalf("lock --try of a held lock: code %d %s", r.Code, r.Stderr)
	}

	c.net.Partition(cut)
	start := time.Now()
	eventually(t, 20*time.Second, "the key and the lock of the cut-off node lapse", func() error {
		if r := c.cli(major, major, "kv", "get", "held/by-process"); !strings.Contains(r.Stderr, "not found") {
			return fmt.Errorf("the bound key is still there: %q %q", r.Stdout, r.Stderr)
		}
		if r := c.cli(major, major, "lock", "--try", "gate", "--", "true"); r.Code != 0 {
			return fmt.Errorf("lock --try: code %d %s", r.Code, r.Stderr)
		}
		return nil
	})
	t.Logf("lapsed %s after the partition (lease TTL 3s)", time.Since(start).Round(100*time.Millisecond))
	c.net.Heal(cut)
}

// TestCallToCutOffNode calls a process on a node that is then cut off: no
// connection breaks (no FIN crosses a partition), yet the call fails with
// "no such process" once the majority marks the callee lost, long before
// its timeout.
func TestCallToCutOffNode(t *testing.T) {
	t.Parallel()
	c := startCluster(t)
	const cut, major = 3, 1
	echo := testcluster.Build(t, "./examples/echo")
	if r := c.cli(major, major, "run", "--node", node(cut), "--restart", "never", "--", echo, "echo1"); r.Code != 0 {
		t.Fatalf("run echo on %s: %s", node(cut), r.Stderr)
	}
	eventually(t, 30*time.Second, "echo1 answers", func() error {
		if r := c.cli(major, major, "call", "echo1", "ping"); r.Stdout != "ping\n" {
			return fmt.Errorf("call: code %d %q %q", r.Code, r.Stdout, r.Stderr)
		}
		return nil
	})
	c.net.Partition(cut)
	defer c.net.Heal(cut)
	start := time.Now()
	r := c.cli(major, major, "call", "--timeout", "60s", "echo1", "are you there")
	if r.Code != 1 || !strings.Contains(r.Stderr, "no such process") {
		t.Fatalf("call to a cut-off callee: code %d %q %q, want no such process", r.Code, r.Stdout, r.Stderr)
	}
	t.Logf("the call failed %s after the partition (lease TTL 3s): %s", time.Since(start).Round(100*time.Millisecond), strings.TrimSpace(r.Stderr))
}
