package mailbox

import (
	"bufio"
	"context"
	"crypto/hmac"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"
)

// ErrClosed means the mailbox, or the connection to it, has closed.
var ErrClosed = errors.New("mailbox closed")

// Options bound a mailbox. Zero fields take the defaults.
type Options struct {
	// MaxMessage is the largest body accepted, in bytes.
	MaxMessage int
	// Capacity bounds the bytes of messages waiting to be received plus
	// the room granted to senders.
	Capacity int
	// Window is the most room one sender holds at a time; at least
	// MaxMessage+Overhead. A sender starts with InitialWindow and is
	// granted more as it asks for it.
	Window int
}

func (o Options) withDefaults() Options {
	if o.MaxMessage <= 0 {
		o.MaxMessage = DefaultMaxMessage
	}
	if o.Window <= 0 {
		o.Window = max(DefaultWindow, o.MaxMessage+Overhead)
	}
	o.Window = max(o.Window, o.MaxMessage+Overhead)
	if o.Capacity <= 0 {
		o.Capacity = max(DefaultCapacity, o.Window)
	}
	o.Capacity = max(o.Capacity, o.Window)
	return o
}

// Message is one message taken from a mailbox.
type Message struct {
	// From is the sender's GPID; empty when the sender is no process.
	From string
	// Body is the message.
	Body []byte

	conn *serverConn
	id   uint64
	call bool
	cost int
}

// IsCall reports whether the sender waits for a Reply.
func (m *Message) IsCall() bool { return m.call }

// Reply answers a call; the caller's Call returns body. It fails when the
// message is no call, or the caller has gone.
func (m *Message) Reply(body []byte) error {
	if !m.call {
		return errors.New("reply to a message that is no call")
	}
	if len(body) > m.conn.limit {
		return fmt.Errorf("%w: a reply of %d bytes, over the limit of %d", ErrTooLarge, len(body), m.conn.limit)
	}
	return m.conn.write(appendFrame(nil, frameReply, m.id, true, body))
}

// Mailbox is the receiving end: a listener that senders connect to, and a
// bounded queue of what they sent, taken by Receive in arrival order.
type Mailbox struct {
	self string // the owner's GPID
	key  []byte
	opts Options
	ln   net.Listener
	log  *slog.Logger

	mu       sync.Mutex
	queue    []*Message
	head     int
	total    int // bytes queued plus room granted and owed: at most Capacity
	conns    map[*serverConn]struct{}
	wanters  []*serverConn // senders waiting for room, first come first served
	closed   bool
	nonempty chan struct{} // has a value when the queue may be non-empty
	done     chan struct{}
}

// Listen opens the mailbox of the process self on addr ("host:0" picks a
// port); only holders of a ticket made with key may send to it.
func Listen(addr, self string, key []byte, opts Options, log *slog.Logger) (*Mailbox, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("open the mailbox of %s: %w", self, err)
	}
	m := &Mailbox{self: self, key: key, opts: opts.withDefaults(), ln: ln, log: log,
		conns: map[*serverConn]struct{}{}, nonempty: make(chan struct{}, 1), done: make(chan struct{})}
	go m.accept()
	return m, nil
}

// Addr returns the address senders connect to.
func (m *Mailbox) Addr() string { return m.ln.Addr().String() }

// Options returns the mailbox's bounds, defaults filled in.
func (m *Mailbox) Options() Options { return m.opts }

// Close stops the mailbox: its senders are told, and Receive fails.
func (m *Mailbox) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	close(m.done)
	conns := make([]*serverConn, 0, len(m.conns))
	for c := range m.conns {
		conns = append(conns, c)
	}
	m.mu.Unlock()
	err := m.ln.Close()
	for _, c := range conns {
		c.write(appendFrame(nil, frameBye, 0, false, nil))
		c.nc.Close()
	}
	return err
}

// Receive returns the next message, waiting for one until ctx ends.
func (m *Mailbox) Receive(ctx context.Context) (*Message, error) {
	for {
		if msg := m.take(); msg != nil {
			return msg, nil
		}
		select {
		case <-m.nonempty:
		case <-m.done:
			if msg := m.take(); msg != nil {
				return msg, nil
			}
			return nil, ErrClosed
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// take pops the head of the queue and gives its room back: to its sender
// when the sender is still connected, else to whoever needs it.
func (m *Mailbox) take() *Message {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.head == len(m.queue) {
		return nil
	}
	msg := m.queue[m.head]
	m.queue[m.head] = nil
	m.head++
	switch {
	case m.head == len(m.queue):
		m.queue, m.head = m.queue[:0], 0
	case m.head >= 1024 && m.head > len(m.queue)/2:
		n := copy(m.queue, m.queue[m.head:])
		clear(m.queue[n:])
		m.queue, m.head = m.queue[:n], 0
		m.signal()
	default:
		m.signal()
	}
	c := msg.conn
	if _, live := m.conns[c]; live && len(m.wanters) == 0 {
		c.queued -= msg.cost
		c.owed += msg.cost
		// Room goes back to its sender in batches of a quarter of its
		// window, but at once when the sender runs low.
		if c.held < c.window/4 || c.owed >= c.window/4 {
			m.grant(c, c.owed)
			c.owed = 0
		}
	} else {
		// Room of a sender that has gone, or wanted by one that waits:
		// it goes to those that wait, first come first served.
		if live {
			c.queued -= msg.cost
		}
		m.total -= msg.cost
		m.serveWanters()
	}
	return msg
}

func (m *Mailbox) signal() {
	select {
	case m.nonempty <- struct{}{}:
	default:
	}
}

// grant gives c n more bytes of room; m.mu is held.
func (m *Mailbox) grant(c *serverConn, n int) {
	if n <= 0 {
		return
	}
	c.held += n
	go c.write(appendFrame(nil, frameCredit, 0, false, u32(n)))
}

// want handles a sender's ask for n more bytes of room: granted now when
// the mailbox has them, else refused at once (failFast) or granted when
// room frees; m.mu is held.
func (m *Mailbox) want(c *serverConn, n int, failFast bool) {
	if n <= 0 || n > m.opts.Window {
		n = min(max(n, 1), m.opts.Window)
	}
	if free := m.opts.Capacity - m.total; free >= n {
		m.total += n
		c.window = min(max(c.window, c.held+c.owed+c.queued+n), m.opts.Window)
		if failFast {
			c.held += n
			go c.write(appendFrame(nil, frameWantReply, 0, false, u32(n)))
		} else {
			m.grant(c, n)
		}
		return
	}
	if failFast {
		go c.write(appendFrame(nil, frameWantReply, 0, false, u32(0)))
		return
	}
	if c.want == 0 {
		m.wanters = append(m.wanters, c)
	}
	c.want = max(c.want, n)
}

// serveWanters grants room to the senders waiting for it, in order, while
// the mailbox has it; m.mu is held.
func (m *Mailbox) serveWanters() {
	for len(m.wanters) > 0 {
		c := m.wanters[0]
		if _, live := m.conns[c]; live && c.want > 0 {
			if m.opts.Capacity-m.total < c.want {
				return
			}
			m.total += c.want
			c.window = min(max(c.window, c.held+c.owed+c.queued+c.want), m.opts.Window)
			m.grant(c, c.want)
		}
		c.want = 0
		m.wanters = m.wanters[1:]
	}
}

func u32(n int) []byte {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], uint32(n))
	return b[:]
}

func (m *Mailbox) accept() {
	for {
		nc, err := m.ln.Accept()
		if err != nil {
			return
		}
		go m.serve(nc)
	}
}

// serverConn is one sender's connection; its counters are guarded by the
// mailbox's mu.
type serverConn struct {
	nc     net.Conn
	wmu    sync.Mutex
	from   string
	limit  int // of a reply's body: the mailbox's MaxMessage
	held   int // room the sender holds
	owed   int // room taken back by Receive, not yet granted again
	window int // the room it may hold: it grows as the sender asks for more
	want   int // room it waits for (it is in wanters)
	queued int // bytes of its messages in the queue
}

func (c *serverConn) write(frame []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_, err := c.nc.Write(frame)
	return err
}

// serve checks a sender's hello, grants it room and queues what it sends.
func (m *Mailbox) serve(nc net.Conn) {
	defer nc.Close()
	r := bufio.NewReaderSize(nc, 64<<10)
	nc.SetReadDeadline(time.Now().Add(handshakeTimeout)) // a peer that says nothing goes
	typ, p, buf, err := readFrame(r, nil, maxHandshake)
	if err != nil || typ != frameHello {
		return
	}
	nc.SetReadDeadline(time.Time{})
	h, err := decodeHello(p)
	if err != nil {
		return
	}
	c := &serverConn{nc: nc, from: h.From, limit: m.opts.MaxMessage}
	if h.To != m.self || !hmac.Equal(h.Ticket, Ticket(m.key, h.From, h.To)) {
		c.write(appendFrame(nil, frameReject, 0, false, []byte("the ticket does not admit "+h.From+" to the mailbox of "+m.self)))
		return
	}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return
	}
	first := min(InitialWindow, max(0, m.opts.Capacity-m.total))
	m.total += first
	c.held, c.window = first, max(first, InitialWindow)
	m.conns[c] = struct{}{}
	var w [8]byte
	binary.BigEndian.PutUint32(w[:4], uint32(first))
	binary.BigEndian.PutUint32(w[4:], uint32(m.opts.MaxMessage))
	c.wmu.Lock() // the welcome goes before any credit
	m.mu.Unlock()
	_, err = nc.Write(appendFrame(nil, frameWelcome, 0, false, w[:]))
	c.wmu.Unlock()
	defer m.drop(c)
	if err != nil {
		return
	}
	for {
		typ, p, buf, err = readFrame(r, buf, m.opts.MaxMessage+8)
		if err != nil {
			return
		}
		switch {
		case typ == frameWant && len(p) == 5:
			m.mu.Lock()
			m.want(c, int(binary.BigEndian.Uint32(p)), p[4] == 1)
			m.mu.Unlock()
			continue
		case typ == frameReturn && len(p) == 4:
			m.mu.Lock()
			n := min(int(binary.BigEndian.Uint32(p)), c.held)
			c.held -= n
			m.total -= n
			m.serveWanters()
			m.mu.Unlock()
			continue
		}
		msg := &Message{From: c.from, conn: c}
		switch typ {
		case frameMsg:
		case frameCall:
			if msg.id, p, err = splitID(p); err != nil {
				return
			}
			msg.call = true
		default:
			m.log.Warn("mailbox: unexpected frame; closing the connection", "from", c.from, "type", typ)
			return
		}
		msg.Body = append([]byte(nil), p...)
		msg.cost = len(msg.Body) + Overhead
		if !m.put(c, msg) {
			m.log.Warn("mailbox: a sender sent past its room; closing its connection", "from", c.from)
			return
		}
	}
}

// put queues msg from c, if c held room for it.
func (m *Mailbox) put(c *serverConn, msg *Message) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if msg.cost > c.held {
		return false
	}
	c.held -= msg.cost
	c.queued += msg.cost
	m.queue = append(m.queue, msg)
	m.signal()
	return true
}

// drop forgets c: the room it held goes back, its queued messages stay.
func (m *Mailbox) drop(c *serverConn) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.conns[c]; !ok {
		return
	}
	delete(m.conns, c)
	m.total -= c.held + c.owed
	c.held, c.owed, c.want = 0, 0, 0
	m.serveWanters()
}
