package nefele

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"connectrpc.com/connect"

	nefelev1 "github.com/nefele/nefele/api/nefele/v1"
	"github.com/nefele/nefele/api/nefele/v1/nefelev1connect"
)

// Re-exported API types, so that users need not import the generated package.
type (
	// Process is one record of the process table.
	Process = nefelev1.Process
	// Spec says what to run.
	Spec = nefelev1.Spec
	// Node is one agent of the cluster.
	Node = nefelev1.Node
	// Event is one state transition of one process.
	Event = nefelev1.Event
	// State is where a process is in its life.
	State = nefelev1.State
)

// DefaultAddr is where an agent listens when nothing else is said.
const DefaultAddr = "127.0.0.1:7070"

// EnvAddr is the environment variable that holds an agent's address; the
// agent sets it for every process it manages.
const EnvAddr = "NEFELE_ADDR"

// Client talks to one agent over a persistent HTTP/2 connection. It is safe
// for concurrent use; the zero value is not usable: use Dial or Connect.
type Client struct {
	addr    string
	token   string // the calling process's, sent with every request
	self    string // the calling process's GPID
	http    *http.Client
	procs   nefelev1connect.ProcessServiceClient
	cluster nefelev1connect.ClusterServiceClient
	kv      nefelev1connect.KVServiceClient
	names   nefelev1connect.NameServiceClient
	locks   nefelev1connect.LockServiceClient
	elect   nefelev1connect.ElectionServiceClient
	barrier nefelev1connect.BarrierServiceClient
	ports   nefelev1connect.PortServiceClient
	// mailboxes is the API client; mail holds the mailbox state.
	mailboxes nefelev1connect.MailboxServiceClient
	mail      mailboxes
	relay     bool    // Send and Call go through the agent (WithRelay)
	sess      session // what a client that is no process holds its locks on

	dialMu     sync.Mutex // guards dialCache
	dialCache  map[string]*endpoints
	dialCtx    context.Context // ends with Close: the watches of Dial
	dialCancel context.CancelFunc
}

// The environment the agent gives each process it runs.
const (
	// EnvToken holds the process's token: it tells the agent which
	// process calls (for names, and keys and locks bound to its life).
	EnvToken = "NEFELE_TOKEN"
	// EnvGPID holds the process's GPID.
	EnvGPID = "NEFELE_GPID"
)

// Connect returns a client of the agent named by NEFELE_ADDR, or of
// DefaultAddr when it is unset. In a process that Nefele runs, the client
// calls as that process (its NEFELE_TOKEN). It does not wait for the
// agent: the first call does.
func Connect(ctx context.Context) (*Client, error) {
	addr := os.Getenv(EnvAddr)
	if addr == "" {
		addr = DefaultAddr
	}
	c, err := Dial(addr, WithToken(os.Getenv(EnvToken)))
	if err != nil {
		return nil, err
	}
	c.self = os.Getenv(EnvGPID)
	return c, nil
}

// SelfGPID returns the GPID of the process the client calls as ("" when
// it was not made by Connect in a managed process).
func (c *Client) SelfGPID() string { return c.self }

// Self returns the record of the process the client calls as.
func (c *Client) Self(ctx context.Context) (*Process, error) {
	if c.self == "" {
		return nil, fmt.Errorf("%w: this client does not call as a managed process (no %s: use Connect in a process Nefele runs)", ErrNotProcess, EnvGPID)
	}
	procs, err := c.Get(ctx, c.self)
	if err != nil {
		return nil, err
	}
	return procs[0], nil
}

// authInterceptor sends the client's token, when it has one.
type authInterceptor struct{ c *Client }

func (i authInterceptor) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		if i.c.token != "" {
			req.Header().Set("Authorization", "Bearer "+i.c.token)
		}
		return next(ctx, req)
	}
}

func (i authInterceptor) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return func(ctx context.Context, spec connect.Spec) connect.StreamingClientConn {
		conn := next(ctx, spec)
		if i.c.token != "" {
			conn.RequestHeader().Set("Authorization", "Bearer "+i.c.token)
		}
		return conn
	}
}

func (i authInterceptor) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return next
}

// DialOption changes a client made by Dial.
type DialOption func(*Client)

// WithToken makes the client call as the managed process whose token (its
// NEFELE_TOKEN) that is.
func WithToken(token string) DialOption {
	return func(c *Client) {
		c.token = token
		if parts := strings.Split(token, "."); len(parts) == 4 {
			c.self = parts[2]
		}
	}
}

// Dial returns a client of the agent at addr ("host:port", or an http:// URL).
// It does not connect: the first call does.
func Dial(addr string, dopts ...DialOption) (*Client, error) {
	base, err := baseURL(addr)
	if err != nil {
		return nil, err
	}
	var protocols http.Protocols
	protocols.SetUnencryptedHTTP2(true)
	transport := &http.Transport{
		Protocols:           &protocols,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:     &tls.Config{},
		MaxIdleConnsPerHost: 4,
		IdleConnTimeout:     90 * time.Second,
	}
	hc := &http.Client{Transport: transport}
	c := &Client{addr: addr, http: hc}
	c.dialCtx, c.dialCancel = context.WithCancel(context.Background())
	opts := connect.WithClientOptions(connect.WithGRPC(), connect.WithInterceptors(authInterceptor{c}))
	c.procs = nefelev1connect.NewProcessServiceClient(hc, base, opts)
	c.cluster = nefelev1connect.NewClusterServiceClient(hc, base, opts)
	c.kv = nefelev1connect.NewKVServiceClient(hc, base, opts)
	c.names = nefelev1connect.NewNameServiceClient(hc, base, opts)
	c.locks = nefelev1connect.NewLockServiceClient(hc, base, opts)
	c.elect = nefelev1connect.NewElectionServiceClient(hc, base, opts)
	c.barrier = nefelev1connect.NewBarrierServiceClient(hc, base, opts)
	c.ports = nefelev1connect.NewPortServiceClient(hc, base, opts)
	c.mailboxes = nefelev1connect.NewMailboxServiceClient(hc, base, opts)
	for _, o := range dopts {
		o(c)
	}
	return c, nil
}

func baseURL(addr string) (string, error) {
	if strings.HasPrefix(addr, "http://") {
		return strings.TrimSuffix(addr, "/"), nil
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return "", fmt.Errorf("%w: invalid agent address %q: use HOST:PORT, like 127.0.0.1:7070", ErrInvalid, addr)
	}
	return "http://" + addr, nil
}

// Addr returns the agent address the client was made with.
func (c *Client) Addr() string { return c.addr }

// Close releases what the client holds on its session (locks, when it is
// no managed process) and its idle connections.
func (c *Client) Close() error {
	c.dialCancel()
	c.closeMailboxes()
	c.closeSession()
	c.http.CloseIdleConnections()
	return nil
}

// SpawnOptions are the rarer knobs of Spawn.
type SpawnOptions struct {
	// Name addresses the process, or the group when Replicas > 0.
	Name string
	// Replicas > 0 makes a group of that many replicas.
	Replicas int
}

// Spawn starts what spec describes and returns the records of the new
// processes once each is running or has failed to start. A process that
// could not start is returned with its state failed and also reported in
// the error (ErrNotFound, ErrNotExecutable or ErrStart).
func (c *Client) Spawn(ctx context.Context, spec *Spec, opts SpawnOptions) ([]*Process, error) {
	res, err := c.procs.Spawn(ctx, connect.NewRequest(&nefelev1.SpawnRequest{
		Spec: spec, Name: opts.Name, Replicas: int32(opts.Replicas),
	}))
	if err != nil {
		return nil, c.wrapErr(err)
	}
	procs := res.Msg.Processes
	for _, p := range procs {
		if p.State == nefelev1.State_STATE_FAILED {
			return procs, startError(p)
		}
	}
	return procs, nil
}

// startError rebuilds the start error of a process that failed to start.
func startError(p *Process) error {
	reason := p.Failure
	if reason == nefelev1.Reason_REASON_UNSPECIFIED {
		reason = nefelev1.Reason_REASON_START_FAILED
	}
	return &Error{Reason: reason, Subject: p.Gpid, Message: p.Reason, Code: connect.CodeFailedPrecondition}
}

// List returns the live processes, and the ended ones too when all is set,
// ordered by GPID.
func (c *Client) List(ctx context.Context, all bool) ([]*Process, error) {
	res, err := c.procs.List(ctx, connect.NewRequest(&nefelev1.ListRequest{All: all}))
	if err != nil {
		return nil, c.wrapErr(err)
	}
	return res.Msg.Processes, nil
}

// Get returns the records target (a GPID or name) resolves to.
func (c *Client) Get(ctx context.Context, target string) ([]*Process, error) {
	res, err := c.procs.Get(ctx, connect.NewRequest(&nefelev1.GetRequest{Target: target}))
	if err != nil {
		return nil, c.wrapErr(err)
	}
	return res.Msg.Processes, nil
}

// Signal sends sig ("TERM", "SIGKILL", "9") to the process tree of every
// process target resolves to. The restart policy still applies.
func (c *Client) Signal(ctx context.Context, target, sig string) ([]*Process, error) {
	res, err := c.procs.Signal(ctx, connect.NewRequest(&nefelev1.SignalRequest{Target: target, Signal: sig}))
	if err != nil {
		return nil, c.wrapErr(err)
	}
	return res.Msg.Processes, nil
}

// Stop ends every process target resolves to gracefully and returns once
// they have ended; they are not restarted. timeout, when not 0, overrides the
// grace before SIGKILL.
func (c *Client) Stop(ctx context.Context, target string, timeout time.Duration) ([]*Process, error) {
	res, err := c.procs.Stop(ctx, connect.NewRequest(&nefelev1.StopRequest{Target: target, TimeoutMs: timeout.Milliseconds()}))
	if err != nil {
		return nil, c.wrapErr(err)
	}
	return res.Msg.Processes, nil
}

// Restart stops every process target resolves to and starts it again in
// place with the same GPID.
func (c *Client) Restart(ctx context.Context, target string) ([]*Process, error) {
	res, err := c.procs.Restart(ctx, connect.NewRequest(&nefelev1.RestartRequest{Target: target}))
	if err != nil {
		return nil, c.wrapErr(err)
	}
	return res.Msg.Processes, nil
}

// Wait blocks until every process target resolves to has ended for good, or
// ctx is done, and returns their final records.
func (c *Client) Wait(ctx context.Context, target string) ([]*Process, error) {
	res, err := c.procs.Wait(ctx, connect.NewRequest(&nefelev1.WaitRequest{Target: target}))
	if err != nil {
		return nil, c.wrapErr(err)
	}
	return res.Msg.Processes, nil
}

// Nodes returns every known node.
func (c *Client) Nodes(ctx context.Context) ([]*Node, error) {
	res, err := c.cluster.ListNodes(ctx, connect.NewRequest(&nefelev1.ListNodesRequest{}))
	if err != nil {
		return nil, c.wrapErr(err)
	}
	return res.Msg.Nodes, nil
}

// Scale sets how many members group name keeps and returns its members
// once it has that many, or when ctx's deadline (at most a minute) passes.
// Scaling down stops the newest members first, gracefully.
func (c *Client) Scale(ctx context.Context, name string, replicas int) ([]*Process, error) {
	res, err := c.procs.Scale(ctx, connect.NewRequest(&nefelev1.ScaleRequest{Name: name, Replicas: int32(replicas)}))
	if err != nil {
		return nil, c.wrapErr(err)
	}
	return res.Msg.Processes, nil
}

// Drain makes node take no new processes and moves its processes to other
// nodes (see the API). It returns the processes still on the node once it
// is empty or when ctx's deadline (at most a minute) passes.
func (c *Client) Drain(ctx context.Context, node string) ([]*Process, error) {
	res, err := c.cluster.Drain(ctx, connect.NewRequest(&nefelev1.DrainRequest{Node: node}))
	if err != nil {
		return nil, c.wrapErr(err)
	}
	return res.Msg.Remaining, nil
}

// Undrain makes a drained node take new processes again.
func (c *Client) Undrain(ctx context.Context, node string) error {
	_, err := c.cluster.Undrain(ctx, connect.NewRequest(&nefelev1.UndrainRequest{Node: node}))
	return c.wrapErr(err)
}

// Version returns the version of the agent.
func (c *Client) Version(ctx context.Context) (*nefelev1.VersionResponse, error) {
	res, err := c.cluster.Version(ctx, connect.NewRequest(&nefelev1.VersionRequest{}))
	if err != nil {
		return nil, c.wrapErr(err)
	}
	return res.Msg, nil
}

// Join asks the agent to let a new node into its cluster. It is what
// `nefele agent --join` calls; programs have no need of it.
func (c *Client) Join(ctx context.Context, name, peerURL string, server bool) (*nefelev1.JoinResponse, error) {
	res, err := c.cluster.Join(ctx, connect.NewRequest(&nefelev1.JoinRequest{Name: name, PeerUrl: peerURL, Server: server}))
	if err != nil {
		return nil, c.wrapErr(err)
	}
	return res.Msg, nil
}

// Events calls fn for every state transition, oldest first; with follow it
// goes on with new ones until ctx is done or fn returns an error.
func (c *Client) Events(ctx context.Context, follow bool, fn func(*Event) error) error {
	stream, err := c.procs.Events(ctx, connect.NewRequest(&nefelev1.EventsRequest{Follow: follow}))
	if err != nil {
		return c.wrapErr(err)
	}
	return receive(ctx, c, stream, func(m *nefelev1.EventsResponse) error { return fn(m.Event) })
}

// receive calls fn with each message of stream until the stream ends, fn
// fails or ctx is done, and closes the stream.
func receive[T any](ctx context.Context, c *Client, stream *connect.ServerStreamForClient[T], fn func(*T) error) error {
	defer stream.Close()
	for stream.Receive() {
		if err := fn(stream.Msg()); err != nil {
			return err
		}
	}
	if err := stream.Err(); err != nil && !errors.Is(ctx.Err(), context.Canceled) {
		return c.wrapErr(err)
	}
	return ctx.Err()
}
