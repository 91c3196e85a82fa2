package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nefele/nefele/internal/testcluster"
	nefele "github.com/nefele/nefele/sdk"
)

// TestKV drives the key-value store through the SDK and the CLI of two
// agents of one cluster: what one writes the other reads.
func TestKV(t *testing.T) {
	agents := testcluster.Start(t, 2)
	kv1, kv2 := agents[0].Client().KV(), agents[1].Client().KV()
	ctx := ctxT(t)

	rev, err := kv1.Put(ctx, "config/db", []byte("postgres://a"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := kv2.Get(ctx, "config/db")
	if err != nil || string(got.Value) != "postgres://a" || got.Revision != rev {
		t.Fatalf("get through the other agent: %v %v, want postgres://a at %d", got, err, rev)
	}
	if _, err := kv2.Put(ctx, "bad\x00key", nil); !errors.Is(err, nefele.ErrInvalid) {
		t.Fatalf("put of a key with NUL: %v, want ErrInvalid", err)
	}
	if _, err := kv2.Get(ctx, "config/nope"); !errors.Is(err, nefele.ErrKeyNotFound) {
		t.Fatalf("get of a missing key: %v, want ErrKeyNotFound", err)
	}

	// Compare-and-swap, by absence, revision and value.
	if ok, cur, err := kv1.CompareAndSwap(ctx, "config/db", nefele.Absent(), []byte("x")); err != nil || ok || string(cur.Value) != "postgres://a" {
		t.Fatalf("CAS expecting absent on a present key: %v %v %v, want refused with the current value", ok, cur, err)
	}
	if ok, _, err := kv2.CompareAndSwap(ctx, "config/db", nefele.AtRevision(rev), []byte("postgres://b")); err != nil || !ok {
		t.Fatalf("CAS at the current revision: %v %v", ok, err)
	}
	if ok, _, err := kv1.CompareAndSwap(ctx, "config/db", nefele.AtRevision(rev), []byte("postgres://c")); err != nil || ok {
		t.Fatalf("CAS at a stale revision: %v %v, want refused", ok, err)
	}
	if ok, cur, err := kv1.CompareAndSwap(ctx, "config/db", nefele.HasValue([]byte("postgres://b")), []byte("postgres://c")); err != nil || !ok || string(cur.Value) != "postgres://c" {
		t.Fatalf("CAS by value: %v %v %v", ok, cur, err)
	}
	if ok, cur, err := kv2.CompareAndDelete(ctx, "config/db", nefele.HasValue([]byte("postgres://c"))); err != nil || !ok || cur != nil {
		t.Fatalf("compare-and-delete: %v %v %v, want deleted", ok, cur, err)
	}
	if ok, _, err := kv1.CompareAndSwap(ctx, "config/db", nefele.Absent(), []byte("d")); err != nil || !ok {
		t.Fatalf("CAS expecting absent on an absent key: %v %v", ok, err)
	}

	// A watch set up on one agent sees the writes made through the other.
	events := make(chan *nefele.KVEvent, 16)
	ready := make(chan struct{})
	wctx, cancel := contextWithCancel(t)
	go kv1.Watch(wctx, "jobs/", nefele.WatchOptions{Prefix: true}, func(evs []*nefele.KVEvent) error {
		if evs == nil {
			close(ready)
		}
		for _, e := range evs {
			events <- e
		}
		return nil
	})
	<-ready
	kv2.Put(ctx, "jobs/1", []byte("queued"))
	kv2.Delete(ctx, "jobs/1")
	for _, want := range []string{"put jobs/1 queued", "del jobs/1"} {
		select {
		case e := <-events:
			got := "put " + e.Kv.Key + " " + string(e.Kv.Value)
			if e.Deleted {
				got = "del " + e.Kv.Key
			}
			if got != want {
				t.Fatalf("watch: %q, want %q", got, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("watch: no %q after 10s", want)
		}
	}
	cancel()
	// A watch from a revision replays what came since.
	rev0, _ := kv1.Put(ctx, "hist/a", []byte("1"))
	kv1.Put(ctx, "hist/a", []byte("2"))
	var replay []string
	rctx, rcancel := contextWithCancel(t)
	kv2.Watch(rctx, "hist/a", nefele.WatchOptions{FromRevision: rev0}, func(evs []*nefele.KVEvent) error {
		for _, e := range evs {
			replay = append(replay, string(e.Kv.Value))
		}
		if len(replay) >= 2 {
			rcancel()
		}
		return nil
	})
	if strings.Join(replay, ",") != "1,2" {
		t.Fatalf("watch from revision %d replayed %v, want 1,2", rev0, replay)
	}

	// The CLI.
	a := agents[1]
	if r := a.CLI(nil, "kv", "put", "greeting", "hello"); r.Code != 0 {
		t.Fatalf("kv put: %d %s", r.Code, r.Stderr)
	}
	if r := a.CLI(strings.NewReader("from stdin"), "kv", "put", "piped", "-"); r.Code != 0 {
		t.Fatalf("kv put -: %d %s", r.Code, r.Stderr)
	}
	if r := agents[0].CLI(nil, "kv", "get", "piped"); r.Code != 0 || r.Stdout != "from stdin\n" {
		t.Fatalf("kv get piped: %d %q %s", r.Code, r.Stdout, r.Stderr)
	}
	r := a.CLI(nil, "kv", "ls")
	for _, want := range []string{"KEY", "config/db", "greeting", "hello", "piped"} {
		if !strings.Contains(r.Stdout, want) {
			t.Fatalf("kv ls lacks %q:\n%s", want, r.Stdout)
		}
	}
	if r := a.CLI(nil, "kv", "get", "missing/key"); r.Code != 1 || !strings.Contains(r.Stderr, "not found: missing/key") {
		t.Fatalf("kv get of a missing key: code %d, stderr %q, want 1 and `not found: missing/key`", r.Code, r.Stderr)
	}
	watch := exec.Command(testcluster.Binary(t), "kv", "watch", "--from", strconv.FormatInt(rev0, 10), "hist/a")
	watch.Env = append(os.Environ(), nefele.EnvAddr+"="+a.Addr)
	var wout testcluster.SyncBuffer
	watch.Stdout = &wout
	if err := watch.Start(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "kv watch --from prints the history", func() bool { return strings.Count(wout.String(), "put hist/a") == 2 })
	watch.Process.Signal(syscall.SIGINT)
	if err := watch.Wait(); err != nil || !strings.Contains(wout.String(), fmt.Sprintf("%d put hist/a 1\n", rev0)) {
		t.Fatalf("kv watch after SIGINT: %v\n%s", err, wout.String())
	}
	if r := a.CLI(nil, "kv", "del", "greeting"); r.Code != 0 {
		t.Fatalf("kv del: %d %s", r.Code, r.Stderr)
	}
	if r := a.CLI(nil, "kv", "del", "greeting"); r.Code != 1 || !strings.Contains(r.Stderr, "not found: greeting") {
		t.Fatalf("kv del of a missing key: code %d, stderr %q", r.Code, r.Stderr)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"kv", "put", "--bind", "k", "v"}, "needs a managed process"},
		{[]string{"kv", "get"}, "want one KEY"},
		{[]string{"kv", "frob"}, `unknown subcommand "frob"`},
		{[]string{"kv", "put", strings.Repeat("k", 1100), "v"}, "key too long: 1100 bytes, at most 1024"},
	} {
		r := a.CLI(nil, tc.args...)
		if r.Code == 0 || !strings.Contains(r.Stderr, tc.want) {
			t.Errorf("nefele %q: code %d, stderr %q, want an error with %q", tc.args, r.Code, r.Stderr, tc.want)
		}
	}
}

func contextWithCancel(t *testing.T) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctxT(t))
	t.Cleanup(cancel)
	return ctx, cancel
}
