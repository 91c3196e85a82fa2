package lintest

import (
	"io"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nefele/nefele/internal/netsim"
	"github.com/nefele/nefele/internal/testcluster"
	nefele "github.com/nefele/nefele/sdk"
)

// book holds where each agent is reached now: a restarted agent of a
// loopback cluster listens on a new port. Safe for concurrent use.
type book struct {
	mu    sync.Mutex // guards addrs
	addrs []string   // addrs[i] reaches agent n<i+1>
}

func newBook(addrs ...string) *book { return &book{addrs: addrs} }

func (b *book) get(i int) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.addrs[i]
}

func (b *book) set(i int, addr string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.addrs[i] = addr
}

func (b *book) len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.addrs)
}

// failover is one workload client's way to the cluster, as a real client
// would have it: a client of one agent at a time, its own (home) agent
// first, moving on to the next agent after a failed call, and going back
// home a while later, so that restarted agents serve again. Only the
// goroutine of its workload client uses it.
type failover struct {
	book *book
	home int            // the index in book of the client's own agent
	at   int            // of the agent in use
	left time.Time      // when it last moved on
	addr string         // the address c was dialled at
	c    *nefele.Client // nil until the next call
}

// homeAfter is how long a client stays away from its own agent.
const homeAfter = 500 * time.Millisecond

func newFailover(b *book, home int) *failover { return &failover{book: b, home: home, at: home} }

// client returns the client of the agent in use, dialled anew when that
// agent has moved.
func (f *failover) client() (*nefele.Client, error) {
	if f.at != f.home && time.Since(f.left) > homeAfter {
		f.at = f.home
	}
	addr := f.book.get(f.at)
	if f.c != nil && addr == f.addr {
		return f.c, nil
	}
	f.close()
	c, err := nefele.Dial(addr)
	if err != nil {
		return nil, err
	}
	f.c, f.addr = c, addr
	return c, nil
}

// next drops the client, and with it its session and what it holds on
// it, and moves on to the next agent.
func (f *failover) next() {
	f.close()
	f.at = (f.at + 1) % f.book.len()
	f.left = time.Now()
}

func (f *failover) close() {
	if f.c != nil {
		f.c.Close()
		f.c = nil
	}
}

// agent returns the name of the agent in use.
func (f *failover) agent() string { return "n" + strconv.Itoa(f.at+1) }

// startLoopback starts a cluster of three servers on loopback and returns
// it with the book of their addresses. At the end of the test the agents
// are SIGKILLed: graceful stops take seconds and test nothing here.
func startLoopback(t *testing.T) ([]*testcluster.Agent, *book) {
	t.Helper()
	agents := testcluster.Start(t, 3)
	t.Cleanup(func() {
		for _, a := range agents {
			if a.Running() {
				a.Kill()
			}
		}
	})
	b := newBook()
	for _, a := range agents {
		b.addrs = append(b.addrs, a.Addr)
	}
	return agents, b
}

// killRestart SIGKILLs agent i of agents and restarts it on its data dir
// after down, and updates the book. Call it from the test's goroutine.
func killRestart(t *testing.T, agents []*testcluster.Agent, b *book, i int, down time.Duration) {
	t.Helper()
	agents[i].Kill()
	t.Logf("SIGKILLed n%d", i+1)
	time.Sleep(down) // the outage is an input of the test
	agents[i].Restart()
	b.set(i, agents[i].Addr)
	t.Logf("restarted n%d at %s", i+1, agents[i].Addr)
}

// nsPort is where every agent of a namespaced cluster listens, on its own
// host's address.
const nsPort = "7070"

// startNamespaced starts n1 in host 1 of a new netsim net and has n2 and
// n3 join it as servers, each in the host of its number. It returns the
// net and, for each host h, the book through which a client of the test
// process reaches the agents as a program on host h does. At the end of
// the test the hosts crash. It skips the test without root.
func startNamespaced(t *testing.T) (*netsim.Net, []*book) {
	t.Helper()
	nw := netsim.New(t, 3)
	addr := func(i int) string { return nw.Addr(i) + ":" + nsPort }
	for i := 1; i <= 3; i++ {
		args := []string{"--name", "n" + strconv.Itoa(i)}
		if i > 1 {
			args = append(args, "--server", "--join", addr(1))
		}
		testcluster.StartNodeWith(t, testcluster.Options{Wrap: nw.Wrap(i), Addr: addr(i)}, args...)
	}
	t.Cleanup(func() {
		for i := 1; i <= 3; i++ {
			nw.Crash(i)
		}
	})
	books := make([]*book, 3)
	for h := 1; h <= 3; h++ {
		b := newBook()
		for i := 1; i <= 3; i++ {
			b.addrs = append(b.addrs, proxy(t, nw, h, addr(i)))
		}
		books[h-1] = b
	}
	return nw, books
}

// proxy returns a loopback address of the test process whose connections
// are forwarded to addr from host from of nw: an SDK client of the test
// process (which stays in the root namespace) dialling it talks to addr
// through host from's network and its faults. The upstream dial happens
// once a connection is accepted, so an unreachable addr shows as a
// connection that closes, not as a refused dial.
func proxy(t *testing.T, nw *netsim.Net, from int, addr string) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex // guards conns
	conns := map[net.Conn]bool{}
	track := func(c net.Conn, add bool) {
		mu.Lock()
		defer mu.Unlock()
		if add {
			conns[c] = true
		} else {
			delete(conns, c)
		}
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			down, err := l.Accept()
			if err != nil {
				return
			}
			track(down, true)
			wg.Go(func() {
				defer track(down, false)
				defer down.Close()
				up, err := nw.DialTimeout(from, "tcp", addr, 2*time.Second)
				if err != nil {
					return
				}
				track(up, true)
				defer track(up, false)
				pipe(down, up)
			})
		}
	})
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return l.Addr().String()
}

// pipe copies a to b and b to a until either side ends, then closes both.
func pipe(a, b net.Conn) {
	done := make(chan struct{}, 2)
	cp := func(dst, src net.Conn) {
		io.Copy(dst, src) // ends with EOF, or a reset when a kill or a cut ended it
		done <- struct{}{}
	}
	go cp(a, b)
	go cp(b, a)
	<-done
	a.Close()
	b.Close()
	<-done
}
