package e2e

import (
	"errors"
	"strings"
	"syscall"
	"testing"

	"github.com/nefele/nefele/internal/testcluster"
	nefele "github.com/nefele/nefele/sdk"
)

// TestNamesLiveWithTheirProcess registers names from managed processes (the
// test binary in a role, using the SDK) and checks that a name, and a key
// bound to its process, go when the process ends: by its own exit, by
// SIGKILL, and when its agent dies and the lease lapses.
func TestNamesLiveWithTheirProcess(t *testing.T) {
	agents := testcluster.Start(t, 3) // three etcd members: one may die
	c1 := agents[0].Client()
	ctx := ctxT(t)
	registered := func(name, node string) *nefele.Process {
		t.Helper()
		spec := roleSpec("register " + name)
		spec.Node = node
		p := spawn(t, c1, nefele.SpawnOptions{}, spec)[0]
		waitLog(t, c1, p.Gpid, "put owned/"+name)
		return p
	}

	svc := registered("svc", "n2")
	reg, err := c1.Lookup(ctx, "svc")
	if err != nil || reg.Gpid != svc.Gpid || reg.Node != "n2" {
		t.Fatalf("lookup svc from n1: %v %v, want %s on n2", reg, err, svc.Gpid)
	}
	if kv, err := c1.KV().Get(ctx, "owned/svc"); err != nil || kv.Owner != svc.Gpid {
		t.Fatalf("the key svc bound to its life: %v %v, want owner %s", kv, err, svc.Gpid)
	}
	// The name is exclusive.
	rival := spawn(t, c1, nefele.SpawnOptions{}, roleSpec("register svc"))[0]
	if end := wait(t, c1, rival.Gpid); end.ExitCode != 1 {
		t.Fatalf("a second registrant of svc exited %d, want 1", end.ExitCode)
	}
	waitLog(t, c1, rival.Gpid, "name svc is registered by "+svc.Gpid)
	if r := agents[1].CLI(nil, "names"); !strings.Contains(r.Stdout, "svc") || !strings.Contains(r.Stdout, svc.Gpid) {
		t.Fatalf("nefele names:\n%s%s", r.Stdout, r.Stderr)
	}
	if _, err := c1.Register(ctx, "svc"); !errors.Is(err, nefele.ErrNotProcess) {
		t.Fatalf("register from outside any process: %v, want ErrNotProcess", err)
	}

	// A name given up is free while its process lives on.
	giver := spawn(t, c1, nefele.SpawnOptions{}, roleSpec("unregister given"))[0]
	waitLog(t, c1, giver.Gpid, "unregistered given")
	if _, err := c1.Lookup(ctx, "given"); !errors.Is(err, nefele.ErrNoName) {
		t.Fatalf("lookup of an unregistered name: %v, want ErrNoName", err)
	}

	// WatchName sees the holder, then its end: SIGKILL of the process.
	seen := make(chan string, 4)
	wctx, cancel := contextWithCancel(t)
	defer cancel()
	go c1.WatchName(wctx, "svc", func(r *nefele.RegisteredName, gone bool) error {
		if gone {
			seen <- "gone"
		} else {
			seen <- r.Gpid
		}
		return nil
	})
	if got := <-seen; got != svc.Gpid {
		t.Fatalf("watch svc: first %q, want %s", got, svc.Gpid)
	}
	if _, err := c1.Signal(ctx, svc.Gpid, "KILL"); err != nil {
		t.Fatal(err)
	}
	if got := <-seen; got != "gone" {
		t.Fatalf("watch svc after SIGKILL of its process: %q, want gone", got)
	}
	if _, err := c1.Lookup(ctx, "svc"); !errors.Is(err, nefele.ErrNoName) {
		t.Fatalf("lookup after its holder died: %v, want ErrNoName", err)
	}
	if _, err := c1.KV().Get(ctx, "owned/svc"); !errors.Is(err, nefele.ErrKeyNotFound) {
		t.Fatalf("the bound key after its process died: %v, want gone", err)
	}

	// Its own exit.
	spec := roleSpec("register quitter exit")
	p := spawn(t, c1, nefele.SpawnOptions{}, spec)[0]
	wait(t, c1, p.Gpid)
	eventually(t, "the name of a process that exited is free", func() bool {
		_, err := c1.Lookup(ctx, "quitter")
		return errors.Is(err, nefele.ErrNoName)
	})

	// The death of its agent: nobody keeps the lease alive, so the name
	// lapses within the lease TTL though the process runs on.
	orphan := registered("orphan", "n3")
	agents[2].Kill()
	eventually(t, "the name of a process whose agent died lapses", func() bool {
		_, err := c1.Lookup(ctx, "orphan")
		return errors.Is(err, nefele.ErrNoName)
	})
	syscall.Kill(int(orphan.Pid), syscall.SIGKILL)
}

// TestProcessIdentity checks the environment that tells a process who it
// is, and Self.
func TestProcessIdentity(t *testing.T) {
	a := testcluster.StartAgent(t)
	c := a.Client()
	p := spawn(t, c, nefele.SpawnOptions{Name: "who", Replicas: 2}, roleSpec("self"))[1]
	waitLog(t, c, p.Gpid, "self "+p.Gpid+" default who 1")
	if r := a.CLI(nil, "kv", "get", "x"); !strings.Contains(r.Stderr, "not found") {
		t.Fatalf("kv get: %s", r.Stderr)
	}
	// A forged token is refused.
	forged, err := nefele.Dial(a.Addr, nefele.WithToken("v1.default."+p.Gpid+".00000000000000000000000000000000"))
	if err != nil {
		t.Fatal(err)
	}
	defer forged.Close()
	if _, err := forged.KV().Put(ctxT(t), "k", nil, nefele.BoundToCaller()); !errors.Is(err, nefele.ErrUnauthenticated) {
		t.Fatalf("put with a forged token: %v, want ErrUnauthenticated", err)
	}
}
