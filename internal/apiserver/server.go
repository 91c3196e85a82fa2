package apiserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strconv"
	"sync"
	"time"

	"connectrpc.com/connect"

	nefelev1 "github.com/nefele/nefele/api/nefele/v1"
	"github.com/nefele/nefele/api/nefele/v1/nefelev1connect"
	"github.com/nefele/nefele/internal/model"
)

// NodeStatus is a node as the API shows it.
type NodeStatus struct {
	model.Node
	State     string
	Processes int
	Drained   bool
	// Allocated sums what the node's live processes ask.
	Allocated model.Capacity
}

// LogsOptions select what Backend.Logs reads.
type LogsOptions struct {
	Follow  bool
	Tail    int
	Streams []string // "stdout", "stderr"
}

// ExecOptions say how Backend.Exec wires an attached process.
type ExecOptions struct {
	TTY        bool
	Rows, Cols uint16
	Stdin      bool
	// Stdout and Stderr receive the output; calls may block until the
	// started message has been sent.
	Stdout, Stderr io.Writer
}

// ExecSession is a running attached process, as the Backend hands it over.
type ExecSession interface {
	WriteStdin([]byte) error
	CloseStdin() error
	Resize(rows, cols uint16) error
	Signal(sig string) error
	// Hangup ends the process because the caller went away.
	Hangup(ctx context.Context)
	// Done is closed once the process has ended and its output was delivered.
	Done() <-chan struct{}
	// Record returns the process's record (the final one after Done).
	Record() model.Process
}

// JoinResult is what a joining node is told.
type JoinResult struct {
	Server         bool
	InitialCluster string
	ClientURLs     []string
	MemberID       uint64
	Reason         string
}

// Backend is what the API needs from the agent.
type Backend interface {
	Spawn(ctx context.Context, name string, replicas int, spec model.Spec) ([]model.Process, error)
	List(ctx context.Context, all bool) ([]model.Process, error)
	Resolve(ctx context.Context, target string) ([]model.Process, error)
	Signal(ctx context.Context, target, sig string) ([]model.Process, error)
	Stop(ctx context.Context, target string, timeout time.Duration) ([]model.Process, error)
	Restart(ctx context.Context, target string) ([]model.Process, error)
	Wait(ctx context.Context, target string) ([]model.Process, error)
	Logs(ctx context.Context, target string, opts LogsOptions, send func(stream string, data []byte) error) error
	Exec(ctx context.Context, spec model.Spec, opts ExecOptions) (ExecSession, model.Process, error)
	Events(ctx context.Context, follow bool, fn func(model.Event) error) error
	Nodes(ctx context.Context) ([]NodeStatus, error)
	Join(ctx context.Context, name, peerURL string, server bool) (JoinResult, error)
	Scale(ctx context.Context, name string, replicas int) ([]model.Process, error)
	Drain(ctx context.Context, node string) ([]model.Process, error)
	Undrain(ctx context.Context, node string) error
	NodeName() string
	PrimitivesBackend
}

// Version is the agent's version, reported by ClusterService.Version.
const Version = "0.1.0-dev"

// Server serves the API over b.
type Server struct {
	b Backend
}

// Handler returns the HTTP handler of every service.
func Handler(b Backend) http.Handler {
	s := &Server{b: b}
	// Most messages are a few hundred bytes: compressing them costs more CPU
	// than it saves on loopback or a LAN.
	opts := connect.WithHandlerOptions(
		connect.WithCompressMinBytes(16<<10),
		connect.WithCodec(strictJSON{}),
		// A bug in a handler fails that call with CodeInternal; the agent
		// and its processes go on.
		connect.WithRecover(func(_ context.Context, _ connect.Spec, _ http.Header, p any) error {
			return connect.NewError(connect.CodeInternal, fmt.Errorf("internal error: %v (please report it)", p))
		}),
	)
	mux := http.NewServeMux()
	mux.Handle(nefelev1connect.NewProcessServiceHandler(s, opts))
	mux.Handle(nefelev1connect.NewClusterServiceHandler(s, opts))
	mux.Handle(nefelev1connect.NewKVServiceHandler(kvServer{b}, opts))
	mux.Handle(nefelev1connect.NewNameServiceHandler(nameServer{b}, opts))
	mux.Handle(nefelev1connect.NewLockServiceHandler(lockServer{b}, opts))
	mux.Handle(nefelev1connect.NewElectionServiceHandler(electionServer{b}, opts))
	mux.Handle(nefelev1connect.NewBarrierServiceHandler(barrierServer{b}, opts))
	mux.Handle(nefelev1connect.NewPortServiceHandler(portServer{b}, opts))
	mux.Handle(nefelev1connect.NewMailboxServiceHandler(mailboxServer{b}, opts))
	return mux
}

// Spawn implements ProcessService.Spawn.
func (s *Server) Spawn(ctx context.Context, req *connect.Request[nefelev1.SpawnRequest]) (*connect.Response[nefelev1.SpawnResponse], error) {
	spec, err := specFromWire(req.Msg.Spec)
	if err != nil {
		return nil, toWire(err)
	}
	if req.Msg.Replicas < 0 {
		return nil, toWire(model.Invalid("", "invalid replicas: use 1 or more"))
	}
	procs, err := s.b.Spawn(ctx, req.Msg.Name, int(req.Msg.Replicas), spec)
	if err != nil && len(procs) == 0 {
		return nil, toWire(err)
	}
	return connect.NewResponse(&nefelev1.SpawnResponse{Processes: processesToWire(procs)}), nil
}

// List implements ProcessService.List.
func (s *Server) List(ctx context.Context, req *connect.Request[nefelev1.ListRequest]) (*connect.Response[nefelev1.ListResponse], error) {
	procs, err := s.b.List(ctx, req.Msg.All)
	if err != nil {
		return nil, toWire(err)
	}
	return connect.NewResponse(&nefelev1.ListResponse{Processes: processesToWire(procs)}), nil
}

// Get implements ProcessService.Get.
func (s *Server) Get(ctx context.Context, req *connect.Request[nefelev1.GetRequest]) (*connect.Response[nefelev1.GetResponse], error) {
	procs, err := s.b.Resolve(ctx, req.Msg.Target)
	if err != nil {
		return nil, toWire(err)
	}
	return connect.NewResponse(&nefelev1.GetResponse{Processes: processesToWire(procs)}), nil
}

// Signal implements ProcessService.Signal.
func (s *Server) Signal(ctx context.Context, req *connect.Request[nefelev1.SignalRequest]) (*connect.Response[nefelev1.SignalResponse], error) {
	procs, err := s.b.Signal(ctx, req.Msg.Target, req.Msg.Signal)
	if err != nil {
		return nil, toWire(err)
	}
	return connect.NewResponse(&nefelev1.SignalResponse{Processes: processesToWire(procs)}), nil
}

// Stop implements ProcessService.Stop.
func (s *Server) Stop(ctx context.Context, req *connect.Request[nefelev1.StopRequest]) (*connect.Response[nefelev1.StopResponse], error) {
	if req.Msg.TimeoutMs < 0 {
		return nil, toWire(model.Invalid("", "invalid stop timeout: use 0 or more"))
	}
	procs, err := s.b.Stop(ctx, req.Msg.Target, time.Duration(req.Msg.TimeoutMs)*time.Millisecond)
	if err != nil {
		return nil, toWire(err)
	}
	return connect.NewResponse(&nefelev1.StopResponse{Processes: processesToWire(procs)}), nil
}

// Restart implements ProcessService.Restart.
func (s *Server) Restart(ctx context.Context, req *connect.Request[nefelev1.RestartRequest]) (*connect.Response[nefelev1.RestartResponse], error) {
	procs, err := s.b.Restart(ctx, req.Msg.Target)
	if err != nil {
		return nil, toWire(err)
	}
	return connect.NewResponse(&nefelev1.RestartResponse{Processes: processesToWire(procs)}), nil
}

// Wait implements ProcessService.Wait.
func (s *Server) Wait(ctx context.Context, req *connect.Request[nefelev1.WaitRequest]) (*connect.Response[nefelev1.WaitResponse], error) {
	procs, err := s.b.Wait(ctx, req.Msg.Target)
	if err != nil {
		return nil, toWire(err)
	}
	return connect.NewResponse(&nefelev1.WaitResponse{Processes: processesToWire(procs)}), nil
}

// Logs implements ProcessService.Logs.
func (s *Server) Logs(ctx context.Context, req *connect.Request[nefelev1.LogsRequest], stream *connect.ServerStream[nefelev1.LogsResponse]) error {
	opts := LogsOptions{Follow: req.Msg.Follow, Tail: int(req.Msg.Tail), Streams: logStreamFromWire(req.Msg.Stream)}
	var mu sync.Mutex // guards stream.Send: the streams are followed concurrently
	err := s.b.Logs(ctx, req.Msg.Target, opts, func(name string, data []byte) error {
		mu.Lock()
		defer mu.Unlock()
		return stream.Send(&nefelev1.LogsResponse{Stream: logStreamToWire(name), Data: data})
	})
	return toWire(err)
}

// Events implements ProcessService.Events.
func (s *Server) Events(ctx context.Context, req *connect.Request[nefelev1.EventsRequest], stream *connect.ServerStream[nefelev1.EventsResponse]) error {
	err := s.b.Events(ctx, req.Msg.Follow, func(e model.Event) error {
		return stream.Send(&nefelev1.EventsResponse{Event: eventToWire(e)})
	})
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return toWire(err)
}

// ListNodes implements ClusterService.ListNodes.
func (s *Server) ListNodes(ctx context.Context, _ *connect.Request[nefelev1.ListNodesRequest]) (*connect.Response[nefelev1.ListNodesResponse], error) {
	nodes, err := s.b.Nodes(ctx)
	if err != nil {
		return nil, toWire(err)
	}
	out := make([]*nefelev1.Node, len(nodes))
	for i, n := range nodes {
		out[i] = nodeToWire(n)
	}
	return connect.NewResponse(&nefelev1.ListNodesResponse{Nodes: out}), nil
}

// Scale implements ProcessService.Scale.
func (s *Server) Scale(ctx context.Context, req *connect.Request[nefelev1.ScaleRequest]) (*connect.Response[nefelev1.ScaleResponse], error) {
	if req.Msg.Replicas < 0 {
		return nil, toWire(model.Invalid(strconv.Itoa(int(req.Msg.Replicas)), fmt.Sprintf("invalid replica count %d: use 0 or more", req.Msg.Replicas)))
	}
	procs, err := s.b.Scale(ctx, req.Msg.Name, int(req.Msg.Replicas))
	if err != nil {
		return nil, toWire(err)
	}
	return connect.NewResponse(&nefelev1.ScaleResponse{Processes: processesToWire(procs)}), nil
}

// Drain implements ClusterService.Drain.
func (s *Server) Drain(ctx context.Context, req *connect.Request[nefelev1.DrainRequest]) (*connect.Response[nefelev1.DrainResponse], error) {
	procs, err := s.b.Drain(ctx, req.Msg.Node)
	if err != nil {
		return nil, toWire(err)
	}
	return connect.NewResponse(&nefelev1.DrainResponse{Remaining: processesToWire(procs)}), nil
}

// Undrain implements ClusterService.Undrain.
func (s *Server) Undrain(ctx context.Context, req *connect.Request[nefelev1.UndrainRequest]) (*connect.Response[nefelev1.UndrainResponse], error) {
	if err := s.b.Undrain(ctx, req.Msg.Node); err != nil {
		return nil, toWire(err)
	}
	return connect.NewResponse(&nefelev1.UndrainResponse{}), nil
}

// Join implements ClusterService.Join.
func (s *Server) Join(ctx context.Context, req *connect.Request[nefelev1.JoinRequest]) (*connect.Response[nefelev1.JoinResponse], error) {
	r, err := s.b.Join(ctx, req.Msg.Name, req.Msg.PeerUrl, req.Msg.Server)
	if err != nil {
		return nil, toWire(err)
	}
	return connect.NewResponse(&nefelev1.JoinResponse{Server: r.Server, InitialCluster: r.InitialCluster,
		ClientUrls: r.ClientURLs, MemberId: r.MemberID, Reason: r.Reason}), nil
}

// Version implements ClusterService.Version.
func (s *Server) Version(context.Context, *connect.Request[nefelev1.VersionRequest]) (*connect.Response[nefelev1.VersionResponse], error) {
	return connect.NewResponse(&nefelev1.VersionResponse{Version: Version, Node: s.b.NodeName(), GoVersion: runtime.Version()}), nil
}
