package e2e

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	nefelev1 "github.com/nefele/nefele/api/nefele/v1"
	"github.com/nefele/nefele/internal/testcluster"
	nefele "github.com/nefele/nefele/sdk"
)

// on returns spec pinned to node.
func on(node string, spec *nefele.Spec) *nefele.Spec {
	spec.Node = node
	return spec
}

// TestMailboxes sends and calls between processes on three agents: by
// name and GPID, in order, through the CLI, to dead, unknown, full and
// mailbox-less targets, and with the callee killed mid-call.
func TestMailboxes(t *testing.T) {
	agents := testcluster.Start(t, 3)
	c := agents[0].Client()
	echo := testcluster.Build(t, "./examples/echo")

	t.Run("cross-node order per sender", func(t *testing.T) {
		ctx := ctxT(t)
		const n = 3000
		recv := spawn(t, c, nefele.SpawnOptions{}, on("n2", roleSpec(fmt.Sprintf("recv inbox %d", 3*n))))[0]
		waitLog(t, c, recv.Gpid, "registered inbox")
		s1 := spawn(t, c, nefele.SpawnOptions{}, on("n1", roleSpec(fmt.Sprintf("sendseq inbox %d", n))))[0]
		s3 := spawn(t, c, nefele.SpawnOptions{}, on("n3", roleSpec(fmt.Sprintf("sendseq %s %d", recv.Gpid, n))))[0]
		for i := range n { // the test itself, a client that is no process
			if err := c.Send(ctx, "inbox", fmt.Appendf(nil, "%d", i), nefele.SendOptions{}); err != nil {
				t.Fatalf("send %d: %v", i, err)
			}
		}
		for _, g := range []string{s1.Gpid, s3.Gpid, ""} {
			waitLog(t, c, recv.Gpid, fmt.Sprintf("in order from %q: %d", g, n))
		}
	})

	echoProc := spawn(t, c, nefele.SpawnOptions{}, on("n2", &nefele.Spec{Command: []string{echo, "echo1"}}))[0]
	waitLog(t, c, echoProc.Gpid, "registered echo1")

	t.Run("call across nodes, from Go and the CLI", func(t *testing.T) {
		ctx := ctxT(t)
		for _, to := range []string{"echo1", echoProc.Gpid} {
			got, err := agents[2].Client().Call(ctx, to, []byte("ping "+to))
			if err != nil || string(got) != "ping "+to {
				t.Fatalf("call %s: %q %v", to, got, err)
			}
		}
		big := make([]byte, 1<<20)
		big[12345] = 7
		if got, err := c.Call(ctx, "echo1", big); err != nil || len(got) != len(big) || got[12345] != 7 {
			t.Fatalf("call with 1 MiB: %d bytes, %v", len(got), err)
		}
		if err := c.Send(ctx, "echo1", make([]byte, 1<<20+1), nefele.SendOptions{}); !errors.Is(err, nefele.ErrTooLarge) {
			t.Fatalf("send over 1 MiB: %v, want ErrTooLarge", err)
		}
		if r := agents[1].CLI(nil, "call", "echo1", "hello"); r.Code != 0 || r.Stdout != "hello\n" {
			t.Fatalf("nefele call: code %d out %q err %q", r.Code, r.Stdout, r.Stderr)
		}
		if r := agents[1].CLI(strings.NewReader("from stdin"), "call", "echo1", "-"); r.Code != 0 || r.Stdout != "from stdin\n" {
			t.Fatalf("nefele call echo1 -: code %d out %q err %q", r.Code, r.Stdout, r.Stderr)
		}
		if r := agents[2].CLI(nil, "send", "echo1", "hi there"); r.Code != 0 {
			t.Fatalf("nefele send: code %d err %q", r.Code, r.Stderr)
		}
		waitLog(t, c, echoProc.Gpid, "from -: hi there")
		// A registered name is a target of every command, as of send.
		if r := agents[2].CLI(nil, "logs", "echo1"); r.Code != 0 || !strings.Contains(r.Stdout, "from -: hi there") {
			t.Fatalf("nefele logs echo1 (a registered name): code %d out %q err %q", r.Code, r.Stdout, r.Stderr)
		}
	})

	t.Run("unknown and dead targets", func(t *testing.T) {
		ctx := ctxT(t)
		for _, args := range [][]string{{"send", "nosuch", "x"}, {"call", "nosuch", "x"}} {
			r := agents[0].CLI(nil, args...)
			if r.Code != 1 || !strings.Contains(r.Stderr, "no such process: nosuch") {
				t.Fatalf("nefele %s to an unknown target: code %d err %q", args[0], r.Code, r.Stderr)
			}
		}
		if err := c.Send(ctx, "nosuch", []byte("x"), nefele.SendOptions{}); !errors.Is(err, nefele.ErrNoProcess) {
			t.Fatalf("send to an unknown name: %v", err)
		}
		short := spawn(t, c, nefele.SpawnOptions{}, on("n3", &nefele.Spec{Command: []string{echo, "short"}, Restart: nefelev1.RestartPolicy_RESTART_POLICY_NEVER}))[0]
		waitLog(t, c, short.Gpid, "registered short")
		if _, err := c.Call(ctx, short.Gpid, []byte("x")); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Stop(ctx, short.Gpid, 0); err != nil {
			t.Fatal(err)
		}
		for _, to := range []string{short.Gpid, "short"} {
			if err := c.Send(ctx, to, []byte("x"), nefele.SendOptions{}); !errors.Is(err, nefele.ErrNoProcess) {
				t.Fatalf("send to %s, ended: %v, want ErrNoProcess", to, err)
			}
		}
		// A process that runs but has no mailbox.
		plain := spawn(t, c, nefele.SpawnOptions{}, sh("exec sleep 1000"))[0]
		if err := c.Send(ctx, plain.Gpid, []byte("x"), nefele.SendOptions{FailFast: true}); !errors.Is(err, nefele.ErrNoMailbox) {
			t.Fatalf("send to a process with no mailbox: %v, want ErrNoMailbox", err)
		}
		wctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		defer cancel()
		if err := c.Send(wctx, plain.Gpid, []byte("x"), nefele.SendOptions{}); !errors.Is(err, nefele.ErrNoMailbox) {
			t.Fatalf("a blocking send to a process with no mailbox: %v, want ErrNoMailbox at the deadline", err)
		}
		r := agents[1].CLI(nil, "send", "--timeout", "300ms", plain.Gpid, "x")
		if r.Code != 1 || !strings.Contains(r.Stderr, "opened no mailbox before the deadline") {
			t.Fatalf("nefele send to a process with no mailbox: code %d err %q", r.Code, r.Stderr)
		}
		for _, args := range [][]string{{"send", "", "x"}, {"send", "--timeout", "0", "echo1", "x"}, {"call", "echo1"}} {
			if r := agents[1].CLI(nil, args...); r.Code != 2 {
				t.Fatalf("nefele %q: code %d err %q, want a usage error", args, r.Code, r.Stderr)
			}
		}
	})

	t.Run("full mailbox", func(t *testing.T) {
		ctx := ctxT(t)
		const room = 8 * (1024 + 64) // eight 1 KiB messages
		hold := spawn(t, c, nefele.SpawnOptions{}, on("n3", roleSpec(fmt.Sprintf("hold full %d", room))))[0]
		waitLog(t, c, hold.Gpid, "holding full")
		body := make([]byte, 1024)
		for i := range 8 {
			if err := c.Send(ctx, "full", body, nefele.SendOptions{FailFast: true}); err != nil {
				t.Fatalf("message %d of 8: %v", i, err)
			}
		}
		if err := c.Send(ctx, "full", body, nefele.SendOptions{FailFast: true}); !errors.Is(err, nefele.ErrMailboxFull) {
			t.Fatalf("fail-fast send to a full mailbox: %v, want ErrMailboxFull", err)
		}
		wctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		defer cancel()
		if err := c.Send(wctx, "full", body, nefele.SendOptions{}); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("blocking send to a full mailbox: %v, want the deadline", err)
		}
		// Through an agent: the limit of this mailbox is 1 KiB a message.
		if r := agents[0].CLI(nil, "send", "full", strings.Repeat("x", 1025)); r.Code != 1 || !strings.Contains(r.Stderr, "too large") {
			t.Fatalf("nefele send over the limit: code %d err %q", r.Code, r.Stderr)
		}
		// Another sender, through an agent: the bound is the mailbox's.
		for _, args := range [][]string{{"--fail-fast"}, {"--timeout", "300ms"}} {
			r := agents[1].CLI(nil, append(append([]string{"send"}, args...), "full", "one more")...)
			if r.Code != 1 || !strings.Contains(r.Stderr, "mailbox full") {
				t.Fatalf("nefele send %s to a full mailbox: code %d err %q", args[0], r.Code, r.Stderr)
			}
		}
	})

	t.Run("a name follows its process to another node", func(t *testing.T) {
		ctx := ctxT(t)
		spawn(t, c, nefele.SpawnOptions{Name: "movers", Replicas: 1}, benchRoleSpec(unpinned, 0, "mb-claim mover"))
		owner := func() (gpid, node string) {
			cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			defer cancel()
			g, err := c.Call(cctx, "mover", nil)
			if err != nil {
				return "", ""
			}
			return string(g), get(t, c, string(g)).Node
		}
		var from, node string
		eventually(t, "mover answers", func() bool { from, node = owner(); return from != "" })
		if _, err := c.Drain(ctx, node); err != nil {
			t.Fatal(err)
		}
		defer c.Undrain(ctx, node)
		eventually(t, "mover answers from another node", func() bool {
			g, n := owner()
			return g != "" && g != from && n != node
		})
	})

	t.Run("callee killed mid-call", func(t *testing.T) {
		ctx := ctxT(t)
		hang := spawn(t, c, nefele.SpawnOptions{}, on("n2", roleSpec("hang hang1")))[0]
		waitLog(t, c, hang.Gpid, "registered hang1")
		done := make(chan error, 1)
		go func() {
			_, err := agents[2].Client().Call(ctx, "hang1", []byte("are you there"))
			done <- err
		}()
		waitLog(t, c, hang.Gpid, "got call are you there true")
		killPid(int(get(t, c, hang.Gpid).Pid))
		if err := <-done; !errors.Is(err, nefele.ErrNoProcess) {
			t.Fatalf("call whose callee was killed: %v, want ErrNoProcess", err)
		}
	})
}

// TestExampleChat runs examples/chat with the room and two members on
// three nodes: a line one member reads reaches the other.
func TestExampleChat(t *testing.T) {
	bin := testcluster.Build(t, "./examples/chat")
	agents := testcluster.Start(t, 3)
	c := agents[0].Client()
	room := spawn(t, c, nefele.SpawnOptions{}, on("n1", &nefele.Spec{Command: []string{bin, "room", "lobby"}}))[0]
	waitLog(t, c, room.Gpid, "room lobby open")
	bob := spawn(t, c, nefele.SpawnOptions{}, on("n2", &nefele.Spec{Command: []string{bin, "member", "lobby", "bob"}}))[0]
	waitLog(t, c, bob.Gpid, "welcome bob, 1 here")
	alice := spawn(t, c, nefele.SpawnOptions{}, on("n3", sh(fmt.Sprintf("printf 'hello from alice\\n' | %s member lobby alice", bin))))[0]
	waitLog(t, c, alice.Gpid, "welcome alice, 2 here")
	waitLog(t, c, bob.Gpid, "* alice joined")
	waitLog(t, c, bob.Gpid, "alice: hello from alice")
	killPid(int(get(t, c, alice.Gpid).Pid))
	waitLog(t, c, bob.Gpid, "* alice left")
}

// TestMailboxAgentRestart SIGKILLs the agent of two processes that talk:
// their connection does not pass through it, so calls go on while it is
// down, and after it restarts (adopting them) new senders find the name.
func TestMailboxAgentRestart(t *testing.T) {
	a := testcluster.StartAgent(t)
	echo := testcluster.Build(t, "./examples/echo")
	c := a.Client()
	ctx := ctxT(t)
	p := spawn(t, c, nefele.SpawnOptions{}, &nefele.Spec{Command: []string{echo, "steady"}})[0]
	waitLog(t, c, p.Gpid, "registered steady")
	if _, err := c.Call(ctx, "steady", []byte("before")); err != nil {
		t.Fatal(err)
	}
	a.Kill()
	for i := range 100 {
		if got, err := c.Call(ctx, "steady", []byte("while down")); err != nil || string(got) != "while down" {
			t.Fatalf("call %d while the agent is down: %q %v", i, got, err)
		}
	}
	a.Restart()
	if got, err := a.Client().Call(ctx, "steady", []byte("after")); err != nil || string(got) != "after" {
		t.Fatalf("a new client's call after the agent restarted: %q %v", got, err)
	}
}
