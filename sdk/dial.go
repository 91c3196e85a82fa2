package nefele

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"connectrpc.com/connect"

	nefelev1 "github.com/nefele/nefele/api/nefele/v1"
)

// ErrNoEndpoint means no live process publishes the port asked for.
var ErrNoEndpoint = errors.New("no live endpoint")

// endpoints is the watched cache of one service's endpoints.
type endpoints struct {
	mu    sync.Mutex // guards eps and err
	eps   []*Endpoint
	err   error         // the watch's, when it cannot be made
	ready chan struct{} // closed once the first answer is in
	next  atomic.Uint64 // round robin
}

// Dial connects to a live endpoint of target, "SERVICE/PORT" (a group, a
// name or a GPID, and a port it declared with --port), directly: the data
// does not pass through any agent. The endpoints come from a cache that a
// watch keeps current; Dial balances across them in turn and, when one
// refuses, tries the next, so that after a replica dies the next Dial goes
// to a live one. It fails with an error matching ErrNoEndpoint when none
// is live.
func (c *Client) Dial(ctx context.Context, target string) (net.Conn, error) {
	service, port, ok := strings.Cut(target, "/")
	if !ok || service == "" || port == "" {
		return nil, fmt.Errorf("%w: dial %q: want SERVICE/PORT, like web/http", ErrInvalid, target)
	}
	cache := c.endpointsOf(service)
	select {
	case <-cache.ready:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	cache.mu.Lock()
	if err := cache.err; err != nil {
		cache.mu.Unlock()
		return nil, fmt.Errorf("dial %s: %w", target, err)
	}
	var cands []*Endpoint
	for _, e := range cache.eps {
		if e.Port == port {
			cands = append(cands, e)
		}
	}
	cache.mu.Unlock()
	if len(cands) == 0 {
		return nil, fmt.Errorf("%w: %s (no process of %s publishes port %s; see nefele ports)", ErrNoEndpoint, target, service, port)
	}
	var d net.Dialer
	start := cache.next.Add(1)
	var errs []error
	for i := range cands {
		e := cands[(int(start)+i)%len(cands)]
		conn, err := d.DialContext(ctx, "tcp", e.Address)
		if err == nil {
			return conn, nil
		}
		errs = append(errs, fmt.Errorf("%s of %s: %w", e.Address, e.Gpid, err))
		if ctx.Err() != nil {
			break
		}
	}
	return nil, fmt.Errorf("%w: %s: %w", ErrNoEndpoint, target, errors.Join(errs...))
}

// endpointsOf returns the cache of service, starting its watch on first use.
func (c *Client) endpointsOf(service string) *endpoints {
	c.dialMu.Lock()
	defer c.dialMu.Unlock()
	if e, ok := c.dialCache[service]; ok {
		return e
	}
	if c.dialCache == nil {
		c.dialCache = map[string]*endpoints{}
	}
	e := &endpoints{ready: make(chan struct{})}
	c.dialCache[service] = e
	go c.watchEndpoints(service, e)
	return e
}

// watchEndpoints keeps e current until the client is closed, watching
// again after a broken stream. An error that a new watch would meet again
// (a malformed service) is kept for Dial to return.
func (c *Client) watchEndpoints(service string, e *endpoints) {
	ready := func() {
		select {
		case <-e.ready:
		default:
			close(e.ready)
		}
	}
	for c.dialCtx.Err() == nil {
		stream, err := c.ports.WatchPorts(c.dialCtx, connect.NewRequest(&nefelev1.WatchPortsRequest{Service: service}))
		if err == nil {
			err = receive(c.dialCtx, c, stream, func(m *nefelev1.WatchPortsResponse) error {
				e.mu.Lock()
				e.eps, e.err = m.Endpoints, nil
				e.mu.Unlock()
				ready()
				return nil
			})
		} else {
			err = c.wrapErr(err)
		}
		if err != nil && !retryable(err) && c.dialCtx.Err() == nil {
			e.mu.Lock()
			e.err = err
			e.mu.Unlock()
			ready()
		}
		select {
		case <-c.dialCtx.Done():
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// Listen listens on the named port name that the calling process declared
// (run --port NAME): the address its agent allocated, NEFELE_PORT_<NAME> on
// the agent's host. The agent publishes it for Dial once it accepts.
func (c *Client) Listen(ctx context.Context, name string) (net.Listener, error) {
	env := "NEFELE_PORT_" + strings.ToUpper(name)
	port := os.Getenv(env)
	if port == "" {
		return nil, fmt.Errorf("%w: listen %s: no %s in the environment (declare the port with run --port %s)", ErrInvalid, name, env, name)
	}
	host, _, err := net.SplitHostPort(os.Getenv(EnvAddr))
	if err != nil {
		host = "127.0.0.1"
	}
	var lc net.ListenConfig
	return lc.Listen(ctx, "tcp", net.JoinHostPort(host, port))
}
