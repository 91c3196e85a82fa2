package netsim

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	nfqueue "github.com/florianl/go-nfqueue"
	"github.com/mdlayher/netlink"
)

// netem says whether this kernel has tc netem; probed at the first Delay.
var netem struct {
	once sync.Once
	ok   bool
	why  string // why not
}

// delay is the egress delay of one host: a netem qdisc, or an NFQUEUE rule
// and the delay queue process that holds the queued packets.
type delay struct {
	d     time.Duration
	netem bool
	queue string    // the NFQUEUE number, without netem
	cmd   *exec.Cmd // the delay queue, without netem
	stdin io.Closer // closing it tells the delay queue to drain and exit
	done  chan struct{}
}

// Delay holds every packet that host i sends on eth0 for d before it
// leaves; the round trip between two delayed hosts grows by twice d. d ≤ 0
// ends the delay. It uses tc netem where the kernel has it (set
// NETSIM_NO_NETEM=1 to force the other way), else an iptables NFQUEUE rule
// in the host and a delay queue process in the root namespace, which a
// Crash of the host does not end.
func (n *Net) Delay(i int, d time.Duration) {
	n.t.Helper()
	n.check(i)
	n.mu.Lock()
	defer n.mu.Unlock()
	if old := n.delays[i]; old != nil {
		delete(n.delays, i)
		if err := n.undelay(i, old); err != nil {
			n.t.Fatalf("netsim: end delay of host %d: %v", i, err)
		}
	}
	if d <= 0 {
		return
	}
	dl, err := n.delay(i, d)
	if err != nil {
		n.t.Fatalf("netsim: delay host %d: %v", i, err)
	}
	n.delays[i] = dl
}

func (n *Net) delay(i int, d time.Duration) (*delay, error) {
	netem.once.Do(func() { netem.ok, netem.why = probeNetem(n) })
	if netem.ok {
		us := strconv.FormatInt(d.Microseconds(), 10) + "us"
		return &delay{d: d, netem: true}, run(n.Command(i, "tc", "qdisc", "replace", "dev", "eth0", "root", "netem", "delay", us))
	}
	dl := &delay{d: d, queue: strconv.Itoa(i)}
	if err := dl.start(n.path(n.Namespace(i))); err != nil {
		return nil, fmt.Errorf("no netem (%s), and the delay queue: %w", netem.why, err)
	}
	if err := run(n.Command(i, "iptables", dl.rule("-A")...)); err != nil {
		dl.stop(false)
		return nil, err
	}
	return dl, nil
}

func (n *Net) undelay(i int, dl *delay) error {
	if dl.netem {
		return run(n.Command(i, "tc", "qdisc", "del", "dev", "eth0", "root"))
	}
	err := run(n.Command(i, "iptables", dl.rule("-D")...))
	dl.stop(true)
	return err
}

// probeNetem reports whether a netem qdisc can be made, on the loopback of
// a host of n (which has none yet), and why not.
func probeNetem(n *Net) (bool, string) {
	if os.Getenv("NETSIM_NO_NETEM") != "" {
		return false, "NETSIM_NO_NETEM is set"
	}
	if err := run(n.Command(1, "tc", "qdisc", "add", "dev", "lo", "root", "netem", "delay", "1ms")); err != nil {
		return false, err.Error()
	}
	run(n.Command(1, "tc", "qdisc", "del", "dev", "lo", "root"))
	return true, ""
}

// rule is the iptables command line that adds (-A) or deletes (-D) the
// NFQUEUE rule. --queue-bypass lets packets pass while no queue listens.
func (dl *delay) rule(op string) []string {
	return []string{"-w", op, "OUTPUT", "-o", "eth0", "-j", "NFQUEUE", "--queue-num", dl.queue, "--queue-bypass"}
}

// start runs the delay queue, re-executing the test binary, and waits until
// it listens. The delay queue reads its stdin and exits at EOF, so it ends
// with the test process even when that one is killed.
func (dl *delay) start(nsPath string) error {
	cmd := exec.Command(self(), helperFlag+"delayq", nsPath, dl.queue, dl.d.String())
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return err
	}
	dl.cmd, dl.stdin, dl.done = cmd, stdin, make(chan struct{})
	ready := make(chan bool, 1)
	go func() {
		line, _ := bufio.NewReader(stdout).ReadString('\n')
		ready <- line == "ready\n"
		io.Copy(io.Discard, stdout)
		cmd.Wait()
		close(dl.done)
	}()
	select {
	case ok := <-ready:
		if ok {
			return nil
		}
	case <-time.After(10 * time.Second):
	}
	dl.stop(false)
	return fmt.Errorf("delay queue did not start: %s", strings.TrimSpace(stderr.String()))
}

// stop ends the delay queue; with drain, it first releases the packets it
// holds (so stop takes about d).
func (dl *delay) stop(drain bool) {
	if dl.cmd == nil {
		return
	}
	if !drain {
		dl.cmd.Process.Kill()
	}
	dl.stdin.Close()
	select {
	case <-dl.done:
	case <-time.After(dl.d + 5*time.Second):
		dl.cmd.Process.Kill()
		<-dl.done
	}
}

// held is a packet the delay queue holds until due.
type held struct {
	id  uint32
	due time.Time
}

// runDelayQueue is the delay queue helper: args are the namespace path, the
// queue number and the delay. It takes the packets of that queue, holds each
// for the delay and accepts it, in arrival order, so a constant delay never
// reorders. It prints "ready" once bound and, at EOF on stdin or SIGTERM,
// releases what it holds and exits.
func runDelayQueue(args []string) error {
	if len(args) != 3 {
		return fmt.Errorf("usage: %sdelayq NETNS QUEUE DELAY", helperFlag)
	}
	q, err := strconv.ParseUint(args[1], 10, 16)
	if err != nil {
		return fmt.Errorf("queue %q: %w", args[1], err)
	}
	d, err := time.ParseDuration(args[2])
	if err != nil {
		return err
	}
	ns, err := os.Open(args[0])
	if err != nil {
		return err
	}
	defer ns.Close()
	nf, err := nfqueue.Open(&nfqueue.Config{
		NetNS:        int(ns.Fd()), // the socket lives in the host; this process does not
		NfQueue:      uint16(q),
		MaxQueueLen:  16384,
		Copymode:     nfqueue.NfQnlCopyMeta,       // ids are enough; no payload
		Flags:        nfqueue.NfQaCfgFlagFailOpen, // a full queue accepts rather than drops
		WriteTimeout: 100 * time.Millisecond,
	})
	if err != nil {
		return fmt.Errorf("nfqueue: %w", err)
	}
	defer nf.Close()
	nf.SetOption(netlink.NoENOBUFS, true)
	return holdPackets(nf, d)
}

// holdPackets runs the delay queue on nf until stdin ends or SIGTERM.
func holdPackets(nf *nfqueue.Nfqueue, d time.Duration) error {
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer cancel()
	go func() { io.Copy(io.Discard, os.Stdin); cancel() }()
	ch := make(chan held, 65536)
	released := make(chan struct{})
	go func() {
		defer close(released)
		for h := range ch {
			time.Sleep(time.Until(h.due))
			nf.SetVerdict(h.id, nfqueue.NfAccept)
		}
	}()
	var mu sync.Mutex // guards closed and sends on ch
	closed := false
	// The queue stays bound until the held packets are out: unbinding
	// drops what the kernel still queues.
	bound, unbind := context.WithCancel(context.Background())
	defer unbind()
	err := nf.RegisterWithErrorFunc(bound, func(a nfqueue.Attribute) int {
		mu.Lock()
		defer mu.Unlock()
		if !closed && a.PacketID != nil {
			ch <- held{*a.PacketID, time.Now().Add(d)}
		}
		return 0
	}, func(error) int { return 0 })
	if err != nil {
		return fmt.Errorf("nfqueue register: %w", err)
	}
	fmt.Println("ready")
	<-ctx.Done()
	mu.Lock()
	closed = true
	close(ch)
	mu.Unlock()
	<-released
	return nil
}
