package mailbox

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// Route says where a process's mailbox is and admits one sender to it.
type Route struct {
	GPID    string
	Address string
	Ticket  []byte
}

// Resolver is what a Pool needs from an agent.
type Resolver interface {
	// Resolve returns the route to the mailbox of target (a GPID or a
	// name). With wait, it waits until ctx ends for the mailbox of a
	// live process to open, instead of failing.
	Resolve(ctx context.Context, target string, wait bool) (Route, error)
	// Ended returns when the process gpid has ended, saying how, or
	// with ctx's error.
	Ended(ctx context.Context, gpid string) (how string, err error)
}

// notSent wraps the error of a connection that was over before a message
// was queued on it: sending again on a new one cannot duplicate it.
type notSent struct{ err error }

func (e *notSent) Error() string { return e.err.Error() }
func (e *notSent) Unwrap() error { return e.err }

// Pool keeps one connection per receiver for a sender, resolving targets
// through an agent, and drops a connection when its process ends.
type Pool struct {
	from string
	r    Resolver

	mu     sync.Mutex
	conns  map[string]*entry // by the receiver's GPID
	names  map[string]string // a name sent to → the GPID it resolved to
	ctx    context.Context   // ends with Close
	cancel context.CancelFunc
}

type entry struct {
	ready chan struct{}
	conn  *Conn
	err   error
}

// NewPool returns a pool that sends as from (a GPID, or "" for a sender
// that is no process).
func NewPool(from string, r Resolver) *Pool {
	ctx, cancel := context.WithCancel(context.Background())
	return &Pool{from: from, r: r, conns: map[string]*entry{}, names: map[string]string{}, ctx: ctx, cancel: cancel}
}

// Close ends every connection of the pool.
func (p *Pool) Close() {
	p.cancel()
	p.mu.Lock()
	defer p.mu.Unlock()
	for g, e := range p.conns {
		if e.conn != nil {
			e.conn.Close()
		}
		delete(p.conns, g)
	}
}

// Send sends body to target. Without room it waits until ctx ends, or
// fails with ErrFull when failFast. It returns the receiver's GPID.
func (p *Pool) Send(ctx context.Context, target string, body []byte, failFast bool) (string, error) {
	for attempt := 0; ; attempt++ {
		c, err := p.conn(ctx, target, !failFast)
		if err != nil {
			return "", err
		}
		err = c.Send(ctx, body, failFast)
		var ns *notSent
		if errors.As(err, &ns) && attempt == 0 {
			p.forget(target, c)
			continue // the connection was over: resolve again
		}
		return c.To(), err
	}
}

// Call sends body to target as a call and returns the reply. It fails when
// ctx ends, and at once when the callee ends before it replies.
func (p *Pool) Call(ctx context.Context, target string, body []byte) ([]byte, string, error) {
	for attempt := 0; ; attempt++ {
		c, err := p.conn(ctx, target, true)
		if err != nil {
			return nil, "", err
		}
		resp, err := c.Call(ctx, body)
		var ns *notSent
		if errors.As(err, &ns) && attempt == 0 {
			p.forget(target, c)
			continue
		}
		return resp, c.To(), err
	}
}

// conn returns the connection to target's mailbox, opening it if needed.
func (p *Pool) conn(ctx context.Context, target string, wait bool) (*Conn, error) {
	p.mu.Lock()
	gpid, ok := p.names[target]
	if !ok {
		gpid = target
	}
	e := p.conns[gpid]
	p.mu.Unlock()
	if e != nil {
		if c, err := e.await(ctx); err == nil && c.Err() == nil {
			return c, nil
		}
	}
	route, err := p.r.Resolve(ctx, target, wait)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	if route.GPID != target {
		p.names[target] = route.GPID
	}
	e = p.conns[route.GPID]
	if e != nil {
		p.mu.Unlock()
		c, err := e.await(ctx)
		if err == nil && c.Err() == nil {
			return c, nil
		}
		p.mu.Lock()
		if p.conns[route.GPID] == e {
			delete(p.conns, route.GPID)
		}
		if e = p.conns[route.GPID]; e != nil { // another sender opened one meanwhile
			p.mu.Unlock()
			return e.await(ctx)
		}
	}
	e = &entry{ready: make(chan struct{})}
	p.conns[route.GPID] = e
	p.mu.Unlock()

	e.conn, e.err = Open(ctx, route.Address, p.from, route.GPID, route.Ticket)
	close(e.ready)
	if e.err != nil {
		p.mu.Lock()
		if p.conns[route.GPID] == e {
			delete(p.conns, route.GPID)
		}
		p.mu.Unlock()
		return nil, e.err
	}
	go p.watch(route.GPID, e)
	return e.conn, nil
}

func (e *entry) await(ctx context.Context) (*Conn, error) {
	select {
	case <-e.ready:
		return e.conn, e.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// watch ends the connection of e when its process ends (a dead node
// breaks no connection), and forgets it when it is over.
func (p *Pool) watch(gpid string, e *entry) {
	ctx, cancel := context.WithCancel(p.ctx)
	defer cancel()
	go func() {
		how, err := p.r.Ended(ctx, gpid)
		if err == nil {
			e.conn.Fail(fmt.Errorf("%w: %s %s", ErrGone, gpid, how))
		}
	}()
	select {
	case <-e.conn.Done():
	case <-p.ctx.Done():
	}
	p.mu.Lock()
	if p.conns[gpid] == e {
		delete(p.conns, gpid)
	}
	for name, g := range p.names {
		if g == gpid {
			delete(p.names, name)
		}
	}
	p.mu.Unlock()
}

// forget drops c, found over but still cached for target.
func (p *Pool) forget(target string, c *Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if e := p.conns[c.To()]; e != nil && e.conn == c {
		delete(p.conns, c.To())
	}
	delete(p.names, target)
}
