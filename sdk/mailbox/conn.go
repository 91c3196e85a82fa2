package mailbox

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"
)

// Errors a sender meets.
var (
	// ErrFull means the mailbox has no room for the message now (the
	// sender asked not to wait).
	ErrFull = errors.New("mailbox full")
	// ErrTooLarge means the message is over the receiver's limit.
	ErrTooLarge = errors.New("message too large")
	// ErrGone means the connection broke without the mailbox closing: its
	// process, or its node, has died.
	ErrGone = errors.New("mailbox gone")
	// ErrRejected means the mailbox refused the sender's ticket.
	ErrRejected = errors.New("rejected by the mailbox")
)

// Conn is a sender's connection to one mailbox: messages and calls from
// any number of goroutines, in the order their Send or Call began.
type Conn struct {
	to         string // the receiver's GPID
	nc         net.Conn
	maxMessage int

	wmu     sync.Mutex
	buf     []byte // frames not yet written
	spare   []byte
	writing bool

	cmu     sync.Mutex
	credit  int
	lastUse time.Time     // of credit: when it is long ago, the credit goes back
	wanting bool          // a want for room is out, unanswered
	room    chan struct{} // has a value when credit may have grown

	askMu     sync.Mutex // one fail-fast ask at a time
	wantReply chan int

	pmu     sync.Mutex
	pending map[uint64]chan reply
	nextID  uint64

	done    chan struct{} // closed when the connection is over
	errOnce sync.Once
	err     error
}

type reply struct {
	body []byte
	err  error
}

// Open connects to the mailbox at addr of the process to, as from, with
// the ticket an agent gave.
func Open(ctx context.Context, addr, from, to string, ticket []byte) (*Conn, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%w: connect to the mailbox of %s at %s: %v", ErrGone, to, addr, err)
	}
	if dl, ok := ctx.Deadline(); ok {
		nc.SetDeadline(dl)
	} else {
		nc.SetDeadline(time.Now().Add(handshakeTimeout))
	}
	if _, err := nc.Write(appendFrame(nil, frameHello, 0, false, hello{From: from, To: to, Ticket: ticket}.encode())); err != nil {
		nc.Close()
		return nil, fmt.Errorf("%w: greet the mailbox of %s: %v", ErrGone, to, err)
	}
	r := bufio.NewReaderSize(nc, 64<<10)
	typ, p, _, err := readFrame(r, nil, maxHandshake)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("%w: greet the mailbox of %s: %v", ErrGone, to, err)
	}
	if typ == frameReject {
		nc.Close()
		return nil, fmt.Errorf("%w: %s", ErrRejected, p)
	}
	if typ != frameWelcome || len(p) != 8 {
		nc.Close()
		return nil, fmt.Errorf("greet the mailbox of %s: unexpected answer (frame %d)", to, typ)
	}
	nc.SetDeadline(time.Time{})
	c := &Conn{to: to, nc: nc, credit: int(binary.BigEndian.Uint32(p[:4])), maxMessage: int(binary.BigEndian.Uint32(p[4:])),
		room: make(chan struct{}, 1), wantReply: make(chan int, 1), pending: map[uint64]chan reply{}, done: make(chan struct{})}
	go c.read(r)
	go c.giveBackIdle()
	return c, nil
}

// giveBackIdle returns the room of a connection that has not used it for
// idleAfter, until the connection ends.
func (c *Conn) giveBackIdle() {
	t := time.NewTicker(idleAfter / 2)
	defer t.Stop()
	for {
		select {
		case <-c.done:
			return
		case <-t.C:
		}
		c.cmu.Lock()
		n := c.credit
		if n == 0 || c.wanting || time.Since(c.lastUse) < idleAfter {
			c.cmu.Unlock()
			continue
		}
		c.credit = 0
		c.cmu.Unlock()
		if c.queue(frameReturn, 0, false, binary.BigEndian.AppendUint32(nil, uint32(n))) {
			c.flush()
		}
	}
}

// To returns the GPID of the receiver.
func (c *Conn) To() string { return c.to }

// Done is closed when the connection is over; Err then says why.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Err returns why the connection ended, nil while it lasts.
func (c *Conn) Err() error {
	select {
	case <-c.done:
		return c.err
	default:
		return nil
	}
}

// Fail ends the connection with err: pending calls fail with it.
func (c *Conn) Fail(err error) {
	c.errOnce.Do(func() {
		c.err = err
		close(c.done)
		c.nc.Close()
		c.pmu.Lock()
		for id, ch := range c.pending {
			ch <- reply{err: err}
			delete(c.pending, id)
		}
		c.pmu.Unlock()
	})
}

// Close ends the connection.
func (c *Conn) Close() error {
	c.Fail(ErrClosed)
	return nil
}

// Send queues body for the mailbox and returns: it is written soon after,
// with what else was queued. Without room it waits until ctx ends, or
// fails with ErrFull when failFast.
func (c *Conn) Send(ctx context.Context, body []byte, failFast bool) error {
	if err := c.reserve(ctx, len(body), failFast); err != nil {
		return err
	}
	if c.queue(frameMsg, 0, false, body) {
		go c.flush()
	}
	return nil
}

// Call sends body as a call and waits for the reply until ctx ends. It
// fails at once when the connection ends first.
func (c *Conn) Call(ctx context.Context, body []byte) ([]byte, error) {
	if err := c.reserve(ctx, len(body), false); err != nil {
		return nil, err
	}
	ch := make(chan reply, 1)
	c.pmu.Lock()
	if err := c.Err(); err != nil {
		c.pmu.Unlock()
		return nil, &notSent{err}
	}
	c.nextID++
	id := c.nextID
	c.pending[id] = ch
	c.pmu.Unlock()
	if c.queue(frameCall, id, true, body) {
		c.flush() // latency first: this goroutine writes
	}
	select {
	case r := <-ch:
		return r.body, r.err
	case <-ctx.Done():
		c.pmu.Lock()
		delete(c.pending, id)
		c.pmu.Unlock()
		return nil, fmt.Errorf("call %s: no reply before the deadline: %w", c.to, ctx.Err())
	}
}

// reserve takes room for a body of n bytes, asking the mailbox for more
// when what the connection holds is short.
func (c *Conn) reserve(ctx context.Context, n int, failFast bool) error {
	if n > c.maxMessage {
		return fmt.Errorf("%w: %d bytes, over the limit of %d of the mailbox of %s", ErrTooLarge, n, c.maxMessage, c.to)
	}
	cost := n + Overhead
	for {
		if err := c.Err(); err != nil {
			return &notSent{err}
		}
		c.cmu.Lock()
		c.lastUse = time.Now()
		if c.credit >= cost {
			c.credit -= cost
			more := c.credit > 0
			c.cmu.Unlock()
			if more {
				c.kickRoom() // another waiter may fit too
			}
			return nil
		}
		need := cost - c.credit
		ask := !c.wanting && !failFast
		c.wanting = c.wanting || ask
		c.cmu.Unlock()
		if failFast {
			granted, err := c.askRoom(ctx, need)
			if err != nil {
				return err
			}
			if granted == 0 {
				return fmt.Errorf("%w: the mailbox of %s has no room for %d bytes now", ErrFull, c.to, n)
			}
			continue
		}
		if ask {
			c.queueWant(need, false)
		}
		select {
		case <-c.room:
		case <-c.done:
		case <-ctx.Done():
			return fmt.Errorf("%w: the mailbox of %s had no room for %d bytes before the deadline (%w)", ErrFull, c.to, n, ctx.Err())
		}
	}
}

// askRoom asks the mailbox for need more bytes of room and returns what
// it granted at once (0: it has none).
func (c *Conn) askRoom(ctx context.Context, need int) (int, error) {
	c.askMu.Lock()
	defer c.askMu.Unlock()
	c.queueWant(need, true)
	select {
	case granted := <-c.wantReply:
		return granted, nil
	case <-c.done:
		return 0, &notSent{c.err}
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

func (c *Conn) queueWant(need int, failFast bool) {
	p := binary.BigEndian.AppendUint32(nil, uint32(need))
	if failFast {
		p = append(p, 1)
	} else {
		p = append(p, 0)
	}
	if c.queue(frameWant, 0, false, p) {
		c.flush()
	}
}

func (c *Conn) kickRoom() {
	select {
	case c.room <- struct{}{}:
	default:
	}
}

// queue appends a frame and reports whether the caller must flush (no
// write is under way).
func (c *Conn) queue(typ byte, id uint64, hasID bool, body []byte) bool {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.buf = appendFrame(c.buf, typ, id, hasID, body)
	if c.writing {
		return false
	}
	c.writing = true
	return true
}

// flush writes what is queued, and what is queued meanwhile, until none is.
func (c *Conn) flush() {
	c.wmu.Lock()
	for len(c.buf) > 0 {
		b := c.buf
		c.buf = c.spare[:0]
		c.wmu.Unlock()
		_, err := c.nc.Write(b)
		c.wmu.Lock()
		c.spare = b
		if err != nil {
			c.buf = c.buf[:0]
			c.writing = false
			c.wmu.Unlock()
			c.Fail(fmt.Errorf("%w: write to the mailbox of %s: %v", ErrGone, c.to, err))
			return
		}
	}
	c.writing = false
	c.wmu.Unlock()
}

// read takes credit and replies until the connection ends.
func (c *Conn) read(r *bufio.Reader) {
	var buf []byte
	for {
		typ, p, b, err := readFrame(r, buf, c.maxMessage+8)
		buf = b
		if err != nil {
			c.Fail(fmt.Errorf("%w: the connection to the mailbox of %s broke: %v", ErrGone, c.to, err))
			return
		}
		switch typ {
		case frameCredit, frameWantReply:
			if len(p) != 4 {
				continue
			}
			n := int(binary.BigEndian.Uint32(p))
			c.cmu.Lock()
			c.credit += n
			if typ == frameCredit {
				c.wanting = false
			}
			c.cmu.Unlock()
			c.kickRoom()
			if typ == frameWantReply {
				select {
				case c.wantReply <- n:
				default:
				}
			}
		case frameReply:
			id, body, err := splitID(p)
			if err != nil {
				continue
			}
			c.pmu.Lock()
			ch, ok := c.pending[id]
			delete(c.pending, id)
			c.pmu.Unlock()
			if ok {
				ch <- reply{body: append([]byte(nil), body...)}
			}
		case frameBye:
			c.Fail(fmt.Errorf("%w: the mailbox of %s closed", ErrClosed, c.to))
			return
		}
	}
}
