// Package mailbox carries messages between managed processes: the wire
// protocol, the receiving end (Mailbox, a bounded queue behind a TCP
// listener in the receiving process) and the sending end (Conn, one
// persistent connection per receiver, and Pool, which resolves targets and
// keeps those connections).
//
// A sender reaches a receiver's mailbox directly, process to process: an
// agent only resolves the target and authorizes the sender, by a ticket
// made with the receiver's key, so no message relays through an agent
// unless the sender is no process that speaks this protocol (the CLI, a
// JSON client), and then through one. Messages and calls share the
// connection, so those of one sender reach one receiver in the order sent.
// Delivery is at most once: a message accepted by Send reaches the
// receiver's queue unless the connection breaks first.
//
// Flow control is by credit, in bytes: the receiver grants each
// connection room (at most its window, and never more in all than its
// capacity); a message costs its length plus Overhead; room comes back
// as the receiving program takes messages. A sender starts with a little
// room (InitialWindow) and asks for more when a message does not fit: the
// receiver grants it when it has room, else the sender waits (first come
// first served) or, when it asked not to wait, is told at once that the
// mailbox is full. A sender idle for two seconds gives its room back.
// While senders wait, room freed by Receive goes to them
// rather than back to its sender, so no sender keeps the mailbox to itself.
package mailbox

import (
	"bufio"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"
)

// Frame types.
const (
	frameHello   byte = 1 // sender → receiver: ticket, from, to
	frameWelcome byte = 2 // receiver → sender: initial credit, max message
	frameReject  byte = 3 // receiver → sender: why, then close
	frameMsg     byte = 4 // sender → receiver: body
	frameCall    byte = 5 // sender → receiver: call id, body
	frameReply   byte = 6 // receiver → sender: call id, body
	frameCredit  byte = 7 // receiver → sender: more room, in bytes
	frameBye     byte = 8 // receiver → sender: the mailbox closes
	// frameWant asks for more room: u32 bytes, u8 1 when the sender will
	// not wait (then frameWantReply answers at once, with 0 when refused).
	frameWant      byte = 9
	frameWantReply byte = 10 // receiver → sender: u32 bytes granted
	frameReturn    byte = 11 // sender → receiver: u32 bytes of room it gives back, idle
)

// idleAfter is how long a sender keeps room it does not use: then it
// gives it back, so that senders that went quiet hold none of the capacity.
const idleAfter = 2 * time.Second

// Overhead is what each message costs beyond its body, in bytes of credit:
// the mailbox's bound holds for many tiny messages too.
const Overhead = 64

// Defaults of a mailbox.
const (
	DefaultMaxMessage = 1 << 20  // bytes of one message's body
	DefaultCapacity   = 16 << 20 // bytes of messages waiting in all
	DefaultWindow     = 4 << 20  // bytes of room one sender may hold
	// InitialWindow is the room a new sender holds: it asks for more when
	// it needs it, so idle senders hold little of the capacity.
	InitialWindow = 256 << 10
)

// maxHandshake bounds a frame a reader accepts before knowing its peer's
// limit: a hello, a welcome or a reject is small.
const maxHandshake = 4 << 10

// handshakeTimeout bounds the wait for a peer's first frame.
const handshakeTimeout = 10 * time.Second

// Ticket returns what authorizes from to send to the mailbox of to, whose
// key is key. The agent that resolves a target makes it; the mailbox
// checks it; the sender never sees the key.
func Ticket(key []byte, from, to string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(from + "|" + to))
	return h.Sum(nil)
}

// appendFrame appends a frame of typ with an optional call id and body.
func appendFrame(b []byte, typ byte, id uint64, hasID bool, body []byte) []byte {
	n := 1 + len(body)
	if hasID {
		n += 8
	}
	b = binary.BigEndian.AppendUint32(b, uint32(n))
	b = append(b, typ)
	if hasID {
		b = binary.BigEndian.AppendUint64(b, id)
	}
	return append(b, body...)
}

// readFrame reads one frame of at most limit bytes into buf (grown when
// needed) and returns its type and payload, which aliases buf.
func readFrame(r *bufio.Reader, buf []byte, limit int) (byte, []byte, []byte, error) {
	var hdr [5]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, nil, buf, err
	}
	n := int(binary.BigEndian.Uint32(hdr[:4]))
	if n < 1 || n-1 > limit {
		return 0, nil, buf, fmt.Errorf("frame of %d bytes, over the limit of %d", n, limit)
	}
	if cap(buf) < n-1 {
		buf = make([]byte, n-1)
	}
	p := buf[:n-1]
	if _, err := io.ReadFull(r, p); err != nil {
		return 0, nil, buf, err
	}
	return hdr[4], p, buf, nil
}

// splitID splits a call id from the front of a payload.
func splitID(p []byte) (uint64, []byte, error) {
	if len(p) < 8 {
		return 0, nil, errors.New("short frame: no call id")
	}
	return binary.BigEndian.Uint64(p[:8]), p[8:], nil
}

// hello is a sender's first frame.
type hello struct {
	From, To string
	Ticket   []byte
}

func (h hello) encode() []byte {
	var b []byte
	for _, f := range [][]byte{h.Ticket, []byte(h.From), []byte(h.To)} {
		b = binary.BigEndian.AppendUint16(b, uint16(len(f)))
		b = append(b, f...)
	}
	return b
}

func decodeHello(p []byte) (hello, error) {
	var fields [3][]byte
	for i := range fields {
		if len(p) < 2 {
			return hello{}, errors.New("malformed hello")
		}
		n := int(binary.BigEndian.Uint16(p))
		if len(p) < 2+n {
			return hello{}, errors.New("malformed hello")
		}
		fields[i], p = p[2:2+n], p[2+n:]
	}
	return hello{Ticket: fields[0], From: string(fields[1]), To: string(fields[2])}, nil
}
