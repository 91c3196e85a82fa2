package mailbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"
)

var key = []byte("0123456789abcdef0123456789abcdef")

func open(t *testing.T, opts Options) *Mailbox {
	t.Helper()
	m, err := Listen("127.0.0.1:0", "g-recv", key, opts, slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func dial(t *testing.T, m *Mailbox, from string) *Conn {
	t.Helper()
	c, err := Open(context.Background(), m.Addr(), from, "g-recv", Ticket(key, from, "g-recv"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestOrderPerSender(t *testing.T) {
	m := open(t, Options{Capacity: 1 << 20, Window: 64 << 10, MaxMessage: 4 << 10})
	ctx := ctxT(t)
	const senders, each = 4, 5000
	var wg sync.WaitGroup
	for s := range senders {
		c := dial(t, m, fmt.Sprintf("g-%d", s))
		wg.Go(func() {
			for i := range each {
				if err := c.Send(ctx, fmt.Appendf(nil, "%d", i), false); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	next := map[string]int{}
	for range senders * each {
		msg, err := m.Receive(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprint(next[msg.From]); string(msg.Body) != want {
			t.Fatalf("from %s: got %s, want %s", msg.From, msg.Body, want)
		}
		next[msg.From]++
	}
	wg.Wait()
}

func TestFullMailbox(t *testing.T) {
	m := open(t, Options{Capacity: 4 * (1024 + Overhead), Window: 4 * (1024 + Overhead), MaxMessage: 1024})
	ctx := ctxT(t)
	c := dial(t, m, "g-a")
	body := bytes.Repeat([]byte("x"), 1024)
	for i := range 4 {
		if err := c.Send(ctx, body, true); err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
	}
	if err := c.Send(ctx, body, true); !errors.Is(err, ErrFull) {
		t.Fatalf("fail-fast send to a full mailbox: %v, want ErrFull", err)
	}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if err := c.Send(short, body, false); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("blocking send to a full mailbox: %v, want the context's deadline", err)
	}
	// A second sender gets no room either: the bound is the mailbox's.
	if err := dial(t, m, "g-b").Send(ctx, body, true); !errors.Is(err, ErrFull) {
		t.Fatalf("second sender: %v, want ErrFull", err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Send(ctx, []byte("after"), false) }()
	if _, err := m.Receive(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("blocked send after a receive: %v", err)
	}
}

func TestTooLarge(t *testing.T) {
	m := open(t, Options{MaxMessage: 100})
	c := dial(t, m, "g-a")
	if err := c.Send(ctxT(t), make([]byte, 101), false); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("send over the limit: %v", err)
	}
	if err := c.Send(ctxT(t), make([]byte, 100), false); err != nil {
		t.Fatalf("send at the limit: %v", err)
	}
}

func TestCall(t *testing.T) {
	m := open(t, Options{})
	ctx := ctxT(t)
	go func() {
		for {
			msg, err := m.Receive(ctx)
			if err != nil {
				return
			}
			if string(msg.Body) == "hang" {
				m.Close() // the callee goes before replying
				continue
			}
			msg.Reply(append([]byte("re: "), msg.Body...))
		}
	}()
	c := dial(t, m, "g-a")
	got, err := c.Call(ctx, []byte("ping"))
	if err != nil || string(got) != "re: ping" {
		t.Fatalf("call: %q %v", got, err)
	}
	if _, err := c.Call(ctx, []byte("hang")); !errors.Is(err, ErrClosed) && !errors.Is(err, ErrGone) {
		t.Fatalf("call whose callee closes: %v", err)
	}
}

func TestBadTicket(t *testing.T) {
	m := open(t, Options{})
	_, err := Open(context.Background(), m.Addr(), "g-a", "g-recv", []byte("forged"))
	if !errors.Is(err, ErrRejected) {
		t.Fatalf("forged ticket: %v", err)
	}
	_, err = Open(context.Background(), m.Addr(), "g-a", "g-other", Ticket(key, "g-a", "g-other"))
	if !errors.Is(err, ErrRejected) {
		t.Fatalf("ticket for another process: %v", err)
	}
}

// The in-process figures, for the protocol alone; docs/BENCHMARKS.md has
// those between processes on two agents.
func BenchmarkCall(b *testing.B) {
	m, _ := Listen("127.0.0.1:0", "g-recv", key, Options{}, slog.Default())
	defer m.Close()
	ctx := context.Background()
	go func() {
		for {
			msg, err := m.Receive(ctx)
			if err != nil {
				return
			}
			msg.Reply(msg.Body)
		}
	}()
	c, _ := Open(ctx, m.Addr(), "g-a", "g-recv", Ticket(key, "g-a", "g-recv"))
	defer c.Close()
	body := make([]byte, 64)
	for b.Loop() {
		if _, err := c.Call(ctx, body); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSend1KiB(b *testing.B) {
	m, _ := Listen("127.0.0.1:0", "g-recv", key, Options{}, slog.Default())
	defer m.Close()
	ctx := context.Background()
	done := make(chan struct{})
	n := b.N
	go func() {
		for range n {
			m.Receive(ctx)
		}
		close(done)
	}()
	c, _ := Open(ctx, m.Addr(), "g-a", "g-recv", Ticket(key, "g-a", "g-recv"))
	defer c.Close()
	body := make([]byte, 1024)
	b.ResetTimer()
	for range n {
		if err := c.Send(ctx, body, false); err != nil {
			b.Fatal(err)
		}
	}
	<-done
}

// Senders that went quiet give their room back, so a new one fits.
func TestIdleSendersGiveRoomBack(t *testing.T) {
	m := open(t, Options{Capacity: 512 << 10, Window: 512 << 10, MaxMessage: 1024})
	ctx := ctxT(t)
	a, b := dial(t, m, "g-a"), dial(t, m, "g-b") // 256 KiB each: all of it
	if err := a.Send(ctx, []byte("a"), false); err != nil {
		t.Fatal(err)
	}
	c := dial(t, m, "g-c")
	if err := c.Send(ctx, []byte("c"), true); !errors.Is(err, ErrFull) {
		t.Fatalf("send while two senders hold all the room: %v, want ErrFull", err)
	}
	_ = b
	if err := c.Send(ctx, []byte("c"), false); err != nil { // waits until a and b go quiet
		t.Fatalf("send once the others went quiet: %v", err)
	}
	for _, want := range []string{"a", "c"} {
		msg, err := m.Receive(ctx)
		if err != nil || string(msg.Body) != want {
			t.Fatalf("receive: %v %v, want %s", msg, err, want)
		}
	}
}
