package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"connectrpc.com/connect"

	nefelev1 "github.com/nefele/nefele/api/nefele/v1"
	"github.com/nefele/nefele/api/nefele/v1/nefelev1connect"
)

// fakeAgent is an in-memory agent that serves the public API well enough to
// drive the commands: spawned processes run at once, and the commands
// "missing" and "noexec" fail to start like a missing or non-executable
// program. Exec echoes its arguments to stdout, its stdin to stderr, and
// exits with the code given as "exit N".
type fakeAgent struct {
	nefelev1connect.UnimplementedProcessServiceHandler
	nefelev1connect.UnimplementedClusterServiceHandler

	mu    sync.Mutex // guards procs
	procs []*nefelev1.Process
}

// startFake starts a fake agent on a free port and returns it and its address.
func startFake(t *testing.T, procs ...*nefelev1.Process) (*fakeAgent, string) {
	t.Helper()
	f := &fakeAgent{procs: procs}
	mux := http.NewServeMux()
	mux.Handle(nefelev1connect.NewProcessServiceHandler(f))
	mux.Handle(nefelev1connect.NewClusterServiceHandler(f))
	srv := httptest.NewUnstartedServer(mux)
	srv.Config.Protocols = new(http.Protocols)
	srv.Config.Protocols.SetHTTP1(true)
	srv.Config.Protocols.SetUnencryptedHTTP2(true)
	srv.Start()
	t.Cleanup(srv.Close)
	return f, srv.Listener.Addr().String()
}

// apiError is an error as a real agent sends it, with its ErrorDetail.
func apiError(code connect.Code, reason nefelev1.Reason, subject, msg string) error {
	err := connect.NewError(code, errors.New(msg))
	if d, derr := connect.NewErrorDetail(&nefelev1.ErrorDetail{Reason: reason, Subject: subject}); derr == nil {
		err.AddDetail(d)
	}
	return err
}

// find returns the processes target names, or the agent's no-such-process error.
func (f *fakeAgent) find(target string) ([]*nefelev1.Process, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*nefelev1.Process
	for _, p := range f.procs {
		if p.Gpid == target || p.Name == target || (p.Group != "" && p.Group == target) {
			out = append(out, p)
		}
	}
	if len(out) == 0 {
		return nil, apiError(connect.CodeNotFound, nefelev1.Reason_REASON_NO_SUCH_PROCESS, target, "no such process: "+target)
	}
	return out, nil
}

func (f *fakeAgent) Spawn(_ context.Context, req *connect.Request[nefelev1.SpawnRequest]) (*connect.Response[nefelev1.SpawnResponse], error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := max(int(req.Msg.Replicas), 1)
	var out []*nefelev1.Process
	for i := range n {
		p := &nefelev1.Process{Gpid: fmt.Sprintf("p%d", len(f.procs)+1), Name: req.Msg.Name, Spec: req.Msg.Spec,
			Node: "n1", State: nefelev1.State_STATE_RUNNING, Pid: 100}
		if req.Msg.Replicas > 0 {
			p.Group, p.Replica, p.Name = req.Msg.Name, int32(i), fmt.Sprintf("%s.%d", req.Msg.Name, i)
		}
		switch req.Msg.Spec.GetCommand()[0] {
		case "missing":
			p.State, p.Failure, p.Pid = nefelev1.State_STATE_FAILED, nefelev1.Reason_REASON_EXECUTABLE_NOT_FOUND, 0
			p.Reason = "missing: command not found"
		case "noexec":
			p.State, p.Failure, p.Pid = nefelev1.State_STATE_FAILED, nefelev1.Reason_REASON_NOT_EXECUTABLE, 0
			p.Reason = "noexec: permission denied"
		}
		f.procs = append(f.procs, p)
		out = append(out, p)
	}
	return connect.NewResponse(&nefelev1.SpawnResponse{Processes: out}), nil
}

func (f *fakeAgent) List(context.Context, *connect.Request[nefelev1.ListRequest]) (*connect.Response[nefelev1.ListResponse], error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return connect.NewResponse(&nefelev1.ListResponse{Processes: f.procs}), nil
}

func (f *fakeAgent) Get(_ context.Context, req *connect.Request[nefelev1.GetRequest]) (*connect.Response[nefelev1.GetResponse], error) {
	procs, err := f.find(req.Msg.Target)
	return connect.NewResponse(&nefelev1.GetResponse{Processes: procs}), err
}

func (f *fakeAgent) Wait(_ context.Context, req *connect.Request[nefelev1.WaitRequest]) (*connect.Response[nefelev1.WaitResponse], error) {
	procs, err := f.find(req.Msg.Target)
	return connect.NewResponse(&nefelev1.WaitResponse{Processes: procs}), err
}

func (f *fakeAgent) Signal(_ context.Context, req *connect.Request[nefelev1.SignalRequest]) (*connect.Response[nefelev1.SignalResponse], error) {
	if req.Msg.Signal == "BOGUS" {
		return nil, apiError(connect.CodeInvalidArgument, nefelev1.Reason_REASON_INVALID_ARGUMENT, "BOGUS",
			`unknown signal "BOGUS": use a name or number of one of HUP, INT, KILL, TERM`)
	}
	procs, err := f.find(req.Msg.Target)
	return connect.NewResponse(&nefelev1.SignalResponse{Processes: procs}), err
}

func (f *fakeAgent) Logs(_ context.Context, req *connect.Request[nefelev1.LogsRequest], s *connect.ServerStream[nefelev1.LogsResponse]) error {
	if _, err := f.find(req.Msg.Target); err != nil {
		return err
	}
	if req.Msg.Stream != nefelev1.LogStream_LOG_STREAM_STDERR {
		s.Send(&nefelev1.LogsResponse{Stream: nefelev1.LogStream_LOG_STREAM_STDOUT, Data: []byte("out\n")})
	}
	if req.Msg.Stream != nefelev1.LogStream_LOG_STREAM_STDOUT {
		s.Send(&nefelev1.LogsResponse{Stream: nefelev1.LogStream_LOG_STREAM_STDERR, Data: []byte("err\n")})
	}
	return nil
}

func (f *fakeAgent) Events(_ context.Context, _ *connect.Request[nefelev1.EventsRequest], s *connect.ServerStream[nefelev1.EventsResponse]) error {
	return s.Send(&nefelev1.EventsResponse{Event: &nefelev1.Event{Time: "2026-01-02T03:04:05Z", Gpid: "p1", Node: "n1",
		To: nefelev1.State_STATE_RUNNING, Reason: "started"}})
}

func (f *fakeAgent) Exec(_ context.Context, s *connect.BidiStream[nefelev1.ExecRequest, nefelev1.ExecResponse]) error {
	first, err := s.Receive()
	if err != nil {
		return err
	}
	start := first.GetStart()
	cmd := start.GetSpec().GetCommand()
	if cmd[0] == "missing" {
		return apiError(connect.CodeFailedPrecondition, nefelev1.Reason_REASON_EXECUTABLE_NOT_FOUND, "missing", "missing: command not found")
	}
	s.Send(&nefelev1.ExecResponse{Msg: &nefelev1.ExecResponse_Started{Started: &nefelev1.Process{Gpid: "p9", Attached: true}}})
	s.Send(&nefelev1.ExecResponse{Msg: &nefelev1.ExecResponse_Stdout{Stdout: []byte(strings.Join(cmd, " ") +
		fmt.Sprintf(" tty=%v %dx%d\n", start.Tty, start.Rows, start.Cols))}})
	if start.Stdin {
		in := readStdin(s)
		s.Send(&nefelev1.ExecResponse{Msg: &nefelev1.ExecResponse_Stderr{Stderr: []byte(in)}})
	}
	exit := &nefelev1.ExecExit{}
	if len(cmd) == 2 && cmd[0] == "exit" {
		fmt.Sscan(cmd[1], &exit.ExitCode)
		exit.Status = exit.ExitCode
	}
	return s.Send(&nefelev1.ExecResponse{Msg: &nefelev1.ExecResponse_Exit{Exit: exit}})
}

// readStdin reads the stdin of an Exec up to its EOF.
func readStdin(s *connect.BidiStream[nefelev1.ExecRequest, nefelev1.ExecResponse]) string {
	var b strings.Builder
	for {
		msg, err := s.Receive()
		if err != nil || msg.GetStdinEof() {
			if err != nil && !errors.Is(err, io.EOF) {
				b.WriteString("error: " + err.Error())
			}
			return b.String()
		}
		b.Write(msg.GetStdin())
	}
}

func (f *fakeAgent) ListNodes(context.Context, *connect.Request[nefelev1.ListNodesRequest]) (*connect.Response[nefelev1.ListNodesResponse], error) {
	return connect.NewResponse(&nefelev1.ListNodesResponse{Nodes: []*nefelev1.Node{{
		Name: "n1", Address: "127.0.0.1:7070", State: "up", Pid: 42, Server: true, Cpu: 8,
		MemoryBytes: 16 << 30, MaxProcs: 64, Processes: 3, Version: "0.1.0-dev", StartedAt: "2026-01-02T03:04:05Z",
	}}}), nil
}

func (f *fakeAgent) Version(context.Context, *connect.Request[nefelev1.VersionRequest]) (*connect.Response[nefelev1.VersionResponse], error) {
	return connect.NewResponse(&nefelev1.VersionResponse{Version: "9.9.9", Node: "n1", GoVersion: "go1.26"}), nil
}

func (f *fakeAgent) Stop(_ context.Context, req *connect.Request[nefelev1.StopRequest]) (*connect.Response[nefelev1.StopResponse], error) {
	procs, err := f.find(req.Msg.Target)
	return connect.NewResponse(&nefelev1.StopResponse{Processes: procs}), err
}

func (f *fakeAgent) Restart(_ context.Context, req *connect.Request[nefelev1.RestartRequest]) (*connect.Response[nefelev1.RestartResponse], error) {
	procs, err := f.find(req.Msg.Target)
	return connect.NewResponse(&nefelev1.RestartResponse{Processes: procs}), err
}
