package e2e

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"connectrpc.com/connect"

	nefelev1 "github.com/nefele/nefele/api/nefele/v1"
	"github.com/nefele/nefele/api/nefele/v1/nefelev1connect"
	"github.com/nefele/nefele/internal/testcluster"
	nefele "github.com/nefele/nefele/sdk"
)

// TestLocks: mutual exclusion across agents with strictly increasing
// fencing tokens, try-lock, release when the holding process dies, and
// `nefele lock`.
func TestLocks(t *testing.T) {
	agents := testcluster.Start(t, 3)
	ctx := ctxT(t)

	// Four clients on three agents take turns on one lock, each doing a
	// read-modify-write of a counter that only the lock protects.
	const rounds = 10
	var wg sync.WaitGroup
	var mu sync.Mutex
	var tokens []int64
	errs := make(chan error, 4)
	for i := range 4 {
		c := agents[i%3].Client()
		wg.Go(func() {
			m := c.Mutex("counter")
			for range rounds {
				token, err := m.Lock(ctx)
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				tokens = append(tokens, token)
				mu.Unlock()
				n := 0
				if kv, err := c.KV().Get(ctx, "count"); err == nil {
					n, _ = strconv.Atoi(string(kv.Value))
				}
				c.KV().Put(ctx, "count", []byte(strconv.Itoa(n+1)))
				if err := m.Unlock(ctx); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if kv, err := agents[0].Client().KV().Get(ctx, "count"); err != nil || string(kv.Value) != strconv.Itoa(4*rounds) {
		t.Fatalf("counter after %d locked increments: %v %v (a lost update means two holders at once)", 4*rounds, kv, err)
	}
	for i := 1; i < len(tokens); i++ {
		if tokens[i] <= tokens[i-1] {
			t.Fatalf("fencing tokens in the order of holding: %v; token %d is not above %d", tokens, tokens[i], tokens[i-1])
		}
	}

	// TryLock while held; Unlock by one that does not hold it.
	c1, c2 := agents[0].Client(), agents[1].Client()
	a, b := c1.Mutex("door"), c2.Mutex("door")
	if held, _, err := a.TryLock(ctx); err != nil || !held {
		t.Fatalf("try-lock of a free lock: %v %v", held, err)
	}
	if held, _, err := b.TryLock(ctx); err != nil || held {
		t.Fatalf("try-lock of a held lock: %v %v, want not held", held, err)
	}
	if err := b.Unlock(ctx); !errors.Is(err, nefele.ErrNotHeld) {
		t.Fatalf("unlock by a Mutex that does not hold it: %v, want ErrNotHeld", err)
	}
	a.Unlock(ctx)

	// A process that holds a lock and is SIGKILLed releases it at once.
	p := spawn(t, c1, nefele.SpawnOptions{}, roleSpec("lock gate"))[0]
	waitLog(t, c1, p.Gpid, "locked gate")
	waiter := c2.Mutex("gate")
	got := make(chan error, 1)
	go func() { _, err := waiter.Lock(ctx); got <- err }()
	select {
	case err := <-got:
		t.Fatalf("lock of a lock a live process holds returned: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	c1.Signal(ctx, p.Gpid, "KILL")
	select {
	case err := <-got:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the lock of a SIGKILLed process was not released")
	}
	waiter.Unlock(ctx)

	// nefele lock runs a command under the lock and exits with its status.
	cli := agents[2]
	r := cli.CLI(nil, "lock", "job", "--", "sh", "-c", "echo token=$NEFELE_LOCK_TOKEN; exit 7")
	if r.Code != 7 || !strings.HasPrefix(r.Stdout, "token=") {
		t.Fatalf("nefele lock -- sh: code %d, out %q, err %q", r.Code, r.Stdout, r.Stderr)
	}
	holder := c1.Mutex("job")
	if _, err := holder.Lock(ctx); err != nil {
		t.Fatal(err)
	}
	if r := cli.CLI(nil, "lock", "--try", "job", "--", "true"); r.Code != 1 || !strings.Contains(r.Stderr, "lock job is held") {
		t.Fatalf("lock --try of a held lock: code %d, err %q", r.Code, r.Stderr)
	}
	holder.Unlock(ctx)
	// SIGKILL of `nefele lock` itself: its session lapses, the lock goes.
	held := exec.Command(testcluster.Binary(t), "lock", "job", "--", "sh", "-c", "echo in; exec sleep 600")
	held.Env = append(os.Environ(), nefele.EnvAddr+"="+cli.Addr)
	held.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var out testcluster.SyncBuffer
	held.Stdout = &out
	if err := held.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Kill(-held.Process.Pid, syscall.SIGKILL); held.Wait() })
	eventually(t, "nefele lock runs its command", func() bool { return strings.Contains(out.String(), "in") })
	held.Process.Kill()
	start := time.Now()
	if _, err := holder.Lock(ctx); err != nil {
		t.Fatalf("lock after SIGKILL of the nefele lock that held it: %v", err)
	}
	t.Logf("lock taken %s after SIGKILL of its holder's nefele lock (session TTL 3s)", time.Since(start).Round(time.Millisecond))
	holder.Unlock(ctx)
	if r := cli.CLI(nil, "lock", "job"); r.Code != 2 || !strings.Contains(r.Stderr, "want NAME -- CMD") {
		t.Fatalf("lock without a command: code %d, err %q", r.Code, r.Stderr)
	}

	// A process holding a lock whose agent is SIGKILLed: nobody keeps its
	// lease alive, so the lock goes within the lease TTL.
	spec := roleSpec("lock orphaned")
	spec.Node = "n3"
	p = spawn(t, c1, nefele.SpawnOptions{}, spec)[0]
	waitLog(t, c1, p.Gpid, "locked orphaned")
	agents[2].Kill()
	defer syscall.Kill(int(p.Pid), syscall.SIGKILL)
	start = time.Now()
	if _, err := c2.Mutex("orphaned").Lock(ctx); err != nil {
		t.Fatalf("lock held by a process whose agent died: %v", err)
	}
	t.Logf("lock taken %s after the SIGKILL of its holder's agent (lease TTL 3s)", time.Since(start).Round(time.Millisecond))
}

// freeAddr returns a loopback address with a free port, for an agent that
// must come back where it was.
func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestLockPlaceSurvivesItsAgent: a client waits in line through an agent
// that dies and comes back at the same address (as agents on fixed ports
// do); it keeps its place, gets the lock when it is its turn, and leaves
// nothing in line behind it.
func TestLockPlaceSurvivesItsAgent(t *testing.T) {
	n1 := testcluster.StartNodeWith(t, testcluster.Options{Addr: freeAddr(t)}, "--name", "n1")
	n2 := testcluster.StartNodeWith(t, testcluster.Options{Addr: freeAddr(t)}, "--name", "n2", "--server", "--join", n1.Addr)
	testcluster.StartNodeWith(t, testcluster.Options{Addr: freeAddr(t)}, "--name", "n3", "--server", "--join", n1.Addr)
	ctx := ctxT(t)
	holder, waiter, third := n1.Client().Mutex("m"), n2.Client().Mutex("m"), n1.Client().Mutex("m")
	if _, err := holder.Lock(ctx); err != nil {
		t.Fatal(err)
	}
	got := make(chan error, 1)
	go func() { _, err := waiter.Lock(ctx); got <- err }()
	time.Sleep(300 * time.Millisecond) // the waiter is in line, through n2
	n2.Kill()
	n2.Restart()
	holder.Unlock(ctx)
	select {
	case err := <-got:
		if err != nil {
			t.Fatalf("the waiter whose agent restarted: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the waiter whose agent restarted did not get the lock")
	}
	waiter.Unlock(ctx)
	tctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := third.Lock(tctx); err != nil {
		t.Fatalf("a third client after both unlocked: %v (a place left behind blocks the line)", err)
	}
}

// TestWaitingLockKeepsItsSession: a Lock from a caller with no session and
// no process waits longer than the session TTL; the agent keeps the
// session it opened alive meanwhile, so the lock it finally returns is
// really held.
func TestWaitingLockKeepsItsSession(t *testing.T) {
	a := testcluster.StartAgent(t)
	ctx := ctxT(t)
	holder := a.Client().Mutex("long")
	if _, err := holder.Lock(ctx); err != nil {
		t.Fatal(err)
	}
	raw := nefelev1connect.NewLockServiceClient(http.DefaultClient, "http://"+a.Addr)
	got := make(chan *nefelev1.LockResponse, 1)
	go func() {
		res, err := raw.Lock(ctx, connect.NewRequest(&nefelev1.LockRequest{Name: "long"}))
		if err != nil {
			t.Error(err)
			got <- nil
			return
		}
		got <- res.Msg
	}()
	time.Sleep(4500 * time.Millisecond) // longer than the 3 s session TTL
	holder.Unlock(ctx)
	res := <-got
	if res == nil || !res.Held || res.Session == 0 {
		t.Fatalf("the waiting raw Lock: %v", res)
	}
	if held, _, err := a.Client().Mutex("long").TryLock(ctx); err != nil || held {
		t.Fatalf("try-lock while the raw caller holds: %v %v, want held by it", held, err)
	}
	raw.Unlock(ctx, connect.NewRequest(&nefelev1.UnlockRequest{Name: "long", LockId: res.LockId}))
}
