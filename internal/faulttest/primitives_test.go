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
