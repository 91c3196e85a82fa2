package apiserver

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"connectrpc.com/connect"

	nefelev1 "github.com/nefele/nefele/api/nefele/v1"
	"github.com/nefele/nefele/internal/model"
	"github.com/nefele/nefele/sdk/mailbox"
)

// PrimitivesBackend is what the KV and name services need from the agent.
type PrimitivesBackend interface {
	// Caller returns the live managed process whose token a request
	// carries, nil when it carries none.
	Caller(ctx context.Context, token string) (*model.Process, error)
	KVGet(ctx context.Context, key string) (model.KeyValue, error)
	KVPut(ctx context.Context, caller *model.Process, key string, value []byte, bind bool) (int64, error)
	KVDelete(ctx context.Context, key string, prefix bool) (deleted, revision int64, err error)
	KVCompareAndSwap(ctx context.Context, caller *model.Process, key string, expect model.Expect, value []byte, del, bind bool) (swapped bool, current model.KeyValue, found bool, revision int64, err error)
	KVList(ctx context.Context, prefix string, limit int) ([]model.KeyValue, int64, error)
	KVWatch(ctx context.Context, key string, prefix bool, from int64, fn func([]model.KVEvent) error) error
	Register(ctx context.Context, caller *model.Process, name string) (model.Registration, error)
	Unregister(ctx context.Context, caller *model.Process, name string) error
	Lookup(ctx context.Context, name string) (model.Registration, error)
	ListNames(ctx context.Context, prefix string) ([]model.Registration, error)
	WatchName(ctx context.Context, name string, fn func(model.Registration, bool) error) error
	Lock(ctx context.Context, caller *model.Process, name string, try bool, session int64, ttl time.Duration, nonce string) (LockResult, error)
	Unlock(ctx context.Context, name, lockID string) error
	KeepAlive(ctx context.Context, session int64) (time.Duration, error)
	OpenSession(ctx context.Context, ttl time.Duration) (int64, time.Duration, error)
	CloseSession(ctx context.Context, session int64) error
	Campaign(ctx context.Context, caller *model.Process, name string, value []byte, session int64, nonce string) (CampaignResult, error)
	Resign(ctx context.Context, name, candidacy string) error
	Leader(ctx context.Context, name string) (ElectionLeader, error)
	Observe(ctx context.Context, name string, fn func(ElectionLeader, bool) error) error
	BarrierWait(ctx context.Context, caller *model.Process, name string, count int, session int64, nonce string) (int, error)
	Link(ctx context.Context, caller *model.Process, target model.GPID, trap bool) error
	Unlink(ctx context.Context, caller *model.Process, target model.GPID) error
	LinkExits(ctx context.Context, caller *model.Process, fn func(model.Process) error) error
	Ports(ctx context.Context, service string) ([]model.Endpoint, error)
	WatchPorts(ctx context.Context, service string, fn func([]model.Endpoint) error) error
	OpenMailbox(ctx context.Context, caller *model.Process, address string, key []byte, maxMessage int64) error
	ResolveMailbox(ctx context.Context, caller *model.Process, target string, wait bool) (mailbox.Route, int64, error)
	SendMessage(ctx context.Context, caller *model.Process, target string, body []byte, failFast bool) (model.GPID, error)
	CallMessage(ctx context.Context, caller *model.Process, target string, body []byte) ([]byte, model.GPID, error)
}

// CampaignResult is the outcome of a Campaign.
type CampaignResult struct {
	Candidacy string
	Revision  int64
	Session   int64
	TTL       time.Duration
}

// ElectionLeader is the leader of an election.
type ElectionLeader struct {
	Candidacy string
	Value     []byte
	Revision  int64
	GPID      model.GPID
}

// LockResult is the outcome of a Lock.
type LockResult struct {
	Held         bool
	LockID       string
	FencingToken int64
	Session      int64
	TTL          time.Duration
	Holder       string
}

// caller returns the process a request's bearer token names, if any.
func caller(ctx context.Context, b PrimitivesBackend, h interface{ Get(string) string }) (*model.Process, error) {
	token, _ := strings.CutPrefix(h.Get("Authorization"), "Bearer ")
	return b.Caller(ctx, strings.TrimSpace(token))
}

// kvServer serves KVService.
type kvServer struct{ b PrimitivesBackend }

func kvToWire(kv model.KeyValue) *nefelev1.KeyValue {
	return &nefelev1.KeyValue{Key: kv.Key, Value: kv.Value, Revision: kv.Revision,
		CreateRevision: kv.CreateRevision, Owner: string(kv.Owner)}
}

// Get implements KVService.Get.
func (s kvServer) Get(ctx context.Context, req *connect.Request[nefelev1.KVServiceGetRequest]) (*connect.Response[nefelev1.KVServiceGetResponse], error) {
	kv, err := s.b.KVGet(ctx, req.Msg.Key)
	if err != nil {
		return nil, toWire(err)
	}
	return connect.NewResponse(&nefelev1.KVServiceGetResponse{Kv: kvToWire(kv)}), nil
}

// Put implements KVService.Put.
func (s kvServer) Put(ctx context.Context, req *connect.Request[nefelev1.KVServicePutRequest]) (*connect.Response[nefelev1.KVServicePutResponse], error) {
	c, err := caller(ctx, s.b, req.Header())
	if err != nil {
		return nil, toWire(err)
	}
	rev, err := s.b.KVPut(ctx, c, req.Msg.Key, req.Msg.Value, req.Msg.BindToCaller)
	if err != nil {
		return nil, toWire(err)
	}
	return connect.NewResponse(&nefelev1.KVServicePutResponse{Revision: rev}), nil
}

// Delete implements KVService.Delete.
func (s kvServer) Delete(ctx context.Context, req *connect.Request[nefelev1.KVServiceDeleteRequest]) (*connect.Response[nefelev1.KVServiceDeleteResponse], error) {
	n, rev, err := s.b.KVDelete(ctx, req.Msg.Key, req.Msg.Prefix)
	if err != nil {
		return nil, toWire(err)
	}
	return connect.NewResponse(&nefelev1.KVServiceDeleteResponse{Deleted: n, Revision: rev}), nil
}

// CompareAndSwap implements KVService.CompareAndSwap.
func (s kvServer) CompareAndSwap(ctx context.Context, req *connect.Request[nefelev1.KVServiceCompareAndSwapRequest]) (*connect.Response[nefelev1.KVServiceCompareAndSwapResponse], error) {
	c, err := caller(ctx, s.b, req.Header())
	if err != nil {
		return nil, toWire(err)
	}
	m := req.Msg
	expect := model.Expect{Absent: m.ExpectAbsent, Revision: m.ExpectRevision}
	if m.ExpectValue != nil {
		expect.Value = append([]byte{}, m.ExpectValue...)
	}
	ok, cur, found, rev, err := s.b.KVCompareAndSwap(ctx, c, m.Key, expect, m.Value, m.Delete, m.BindToCaller)
	if err != nil {
		return nil, toWire(err)
	}
	res := &nefelev1.KVServiceCompareAndSwapResponse{Swapped: ok, Revision: rev}
	if found {
		res.Current = kvToWire(cur)
	}
	return connect.NewResponse(res), nil
}

// List implements KVService.List.
func (s kvServer) List(ctx context.Context, req *connect.Request[nefelev1.KVServiceListRequest]) (*connect.Response[nefelev1.KVServiceListResponse], error) {
	kvs, rev, err := s.b.KVList(ctx, req.Msg.Prefix, int(req.Msg.Limit))
	if err != nil {
		return nil, toWire(err)
	}
	out := make([]*nefelev1.KeyValue, len(kvs))
	for i, kv := range kvs {
		out[i] = kvToWire(kv)
	}
	return connect.NewResponse(&nefelev1.KVServiceListResponse{Kvs: out, Revision: rev}), nil
}

// Watch implements KVService.Watch.
func (s kvServer) Watch(ctx context.Context, req *connect.Request[nefelev1.KVServiceWatchRequest], stream *connect.ServerStream[nefelev1.KVServiceWatchResponse]) error {
	err := s.b.KVWatch(ctx, req.Msg.Key, req.Msg.Prefix, req.Msg.FromRevision, func(evs []model.KVEvent) error {
		out := make([]*nefelev1.KVEvent, len(evs))
		for i, e := range evs {
			out[i] = &nefelev1.KVEvent{Deleted: e.Deleted, Kv: kvToWire(e.KV)}
		}
		return stream.Send(&nefelev1.KVServiceWatchResponse{Events: out})
	})
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return toWire(err)
}

// nameServer serves NameService.
type nameServer struct{ b PrimitivesBackend }

func regToWire(r model.Registration) *nefelev1.RegisteredName {
	return &nefelev1.RegisteredName{Name: r.Name, Gpid: string(r.GPID), Node: r.Node, Revision: r.Revision}
}

// Register implements NameService.Register.
func (s nameServer) Register(ctx context.Context, req *connect.Request[nefelev1.RegisterRequest]) (*connect.Response[nefelev1.RegisterResponse], error) {
	c, err := caller(ctx, s.b, req.Header())
	if err != nil {
		return nil, toWire(err)
	}
	r, err := s.b.Register(ctx, c, req.Msg.Name)
	if err != nil {
		return nil, toWire(err)
	}
	return connect.NewResponse(&nefelev1.RegisterResponse{Name: regToWire(r)}), nil
}

// Unregister implements NameService.Unregister.
func (s nameServer) Unregister(ctx context.Context, req *connect.Request[nefelev1.UnregisterRequest]) (*connect.Response[nefelev1.UnregisterResponse], error) {
	c, err := caller(ctx, s.b, req.Header())
	if err != nil {
		return nil, toWire(err)
	}
	if err := s.b.Unregister(ctx, c, req.Msg.Name); err != nil {
		return nil, toWire(err)
	}
	return connect.NewResponse(&nefelev1.UnregisterResponse{}), nil
}

// Lookup implements NameService.Lookup.
func (s nameServer) Lookup(ctx context.Context, req *connect.Request[nefelev1.LookupRequest]) (*connect.Response[nefelev1.LookupResponse], error) {
	r, err := s.b.Lookup(ctx, req.Msg.Name)
	if err != nil {
		return nil, toWire(err)
	}
	return connect.NewResponse(&nefelev1.LookupResponse{Name: regToWire(r)}), nil
}

// ListNames implements NameService.ListNames.
func (s nameServer) ListNames(ctx context.Context, req *connect.Request[nefelev1.ListNamesRequest]) (*connect.Response[nefelev1.ListNamesResponse], error) {
	rs, err := s.b.ListNames(ctx, req.Msg.Prefix)
	if err != nil {
		return nil, toWire(err)
	}
	out := make([]*nefelev1.RegisteredName, len(rs))
	for i, r := range rs {
		out[i] = regToWire(r)
	}
	return connect.NewResponse(&nefelev1.ListNamesResponse{Names: out}), nil
}

// WatchName implements NameService.WatchName.
func (s nameServer) WatchName(ctx context.Context, req *connect.Request[nefelev1.WatchNameRequest], stream *connect.ServerStream[nefelev1.WatchNameResponse]) error {
	err := s.b.WatchName(ctx, req.Msg.Name, func(r model.Registration, gone bool) error {
		return stream.Send(&nefelev1.WatchNameResponse{Name: regToWire(r), Gone: gone})
	})
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return toWire(err)
}

// lockServer serves LockService.
type lockServer struct{ b PrimitivesBackend }

// Lock implements LockService.Lock.
func (s lockServer) Lock(ctx context.Context, req *connect.Request[nefelev1.LockRequest]) (*connect.Response[nefelev1.LockResponse], error) {
	c, err := caller(ctx, s.b, req.Header())
	if err != nil {
		return nil, toWire(err)
	}
	if req.Msg.TtlMs < 0 {
		return nil, toWire(model.Invalid("", "invalid ttl_ms: use 0 (the agent's lease TTL) or more"))
	}
	r, err := s.b.Lock(ctx, c, req.Msg.Name, req.Msg.Try, req.Msg.Session, time.Duration(req.Msg.TtlMs)*time.Millisecond, req.Msg.Nonce)
	if err != nil {
		return nil, toWire(err)
	}
	return connect.NewResponse(&nefelev1.LockResponse{Held: r.Held, LockId: r.LockID, FencingToken: r.FencingToken,
		Session: r.Session, TtlMs: r.TTL.Milliseconds(), Holder: r.Holder}), nil
}

// Unlock implements LockService.Unlock.
func (s lockServer) Unlock(ctx context.Context, req *connect.Request[nefelev1.UnlockRequest]) (*connect.Response[nefelev1.UnlockResponse], error) {
	if err := s.b.Unlock(ctx, req.Msg.Name, req.Msg.LockId); err != nil {
		return nil, toWire(err)
	}
	return connect.NewResponse(&nefelev1.UnlockResponse{}), nil
}

// OpenSession implements LockService.OpenSession.
func (s lockServer) OpenSession(ctx context.Context, req *connect.Request[nefelev1.OpenSessionRequest]) (*connect.Response[nefelev1.OpenSessionResponse], error) {
	if req.Msg.TtlMs < 0 {
		return nil, toWire(model.Invalid("", "invalid ttl_ms: use 0 (the agent's lease TTL) or more"))
	}
	id, ttl, err := s.b.OpenSession(ctx, time.Duration(req.Msg.TtlMs)*time.Millisecond)
	if err != nil {
		return nil, toWire(err)
	}
	return connect.NewResponse(&nefelev1.OpenSessionResponse{Session: id, TtlMs: ttl.Milliseconds()}), nil
}

// CloseSession implements LockService.CloseSession.
func (s lockServer) CloseSession(ctx context.Context, req *connect.Request[nefelev1.CloseSessionRequest]) (*connect.Response[nefelev1.CloseSessionResponse], error) {
	if err := s.b.CloseSession(ctx, req.Msg.Session); err != nil {
		return nil, toWire(err)
	}
	return connect.NewResponse(&nefelev1.CloseSessionResponse{}), nil
}

// KeepAlive implements LockService.KeepAlive.
func (s lockServer) KeepAlive(ctx context.Context, req *connect.Request[nefelev1.KeepAliveRequest]) (*connect.Response[nefelev1.KeepAliveResponse], error) {
	ttl, err := s.b.KeepAlive(ctx, req.Msg.Session)
	if err != nil {
		return nil, toWire(err)
	}
	return connect.NewResponse(&nefelev1.KeepAliveResponse{TtlMs: ttl.Milliseconds()}), nil
}

// electionServer serves ElectionService.
type electionServer struct{ b PrimitivesBackend }

func leaderToWire(l ElectionLeader) *nefelev1.ElectionLeader {
	return &nefelev1.ElectionLeader{Candidacy: l.Candidacy, Value: l.Value, Revision: l.Revision, Gpid: string(l.GPID)}
}

// Campaign implements ElectionService.Campaign.
func (s electionServer) Campaign(ctx context.Context, req *connect.Request[nefelev1.CampaignRequest]) (*connect.Response[nefelev1.CampaignResponse], error) {
	c, err := caller(ctx, s.b, req.Header())
	if err != nil {
		return nil, toWire(err)
	}
	r, err := s.b.Campaign(ctx, c, req.Msg.Name, req.Msg.Value, req.Msg.Session, req.Msg.Nonce)
	if err != nil {
		return nil, toWire(err)
	}
	return connect.NewResponse(&nefelev1.CampaignResponse{Candidacy: r.Candidacy, Revision: r.Revision,
		Session: r.Session, TtlMs: r.TTL.Milliseconds()}), nil
}

// Resign implements ElectionService.Resign.
func (s electionServer) Resign(ctx context.Context, req *connect.Request[nefelev1.ResignRequest]) (*connect.Response[nefelev1.ResignResponse], error) {
	if err := s.b.Resign(ctx, req.Msg.Name, req.Msg.Candidacy); err != nil {
		return nil, toWire(err)
	}
	return connect.NewResponse(&nefelev1.ResignResponse{}), nil
}

// Leader implements ElectionService.Leader.
func (s electionServer) Leader(ctx context.Context, req *connect.Request[nefelev1.LeaderRequest]) (*connect.Response[nefelev1.LeaderResponse], error) {
	l, err := s.b.Leader(ctx, req.Msg.Name)
	if err != nil {
		return nil, toWire(err)
	}
	return connect.NewResponse(&nefelev1.LeaderResponse{Leader: leaderToWire(l)}), nil
}

// Observe implements ElectionService.Observe.
func (s electionServer) Observe(ctx context.Context, req *connect.Request[nefelev1.ObserveRequest], stream *connect.ServerStream[nefelev1.ObserveResponse]) error {
	err := s.b.Observe(ctx, req.Msg.Name, func(l ElectionLeader, found bool) error {
		res := &nefelev1.ObserveResponse{}
		if found {
			res.Leader = leaderToWire(l)
		}
		return stream.Send(res)
	})
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return toWire(err)
}

// barrierServer serves BarrierService.
type barrierServer struct{ b PrimitivesBackend }

// Wait implements BarrierService.Wait.
func (s barrierServer) Wait(ctx context.Context, req *connect.Request[nefelev1.BarrierServiceWaitRequest]) (*connect.Response[nefelev1.BarrierServiceWaitResponse], error) {
	c, err := caller(ctx, s.b, req.Header())
	if err != nil {
		return nil, toWire(err)
	}
	n, err := s.b.BarrierWait(ctx, c, req.Msg.Name, int(req.Msg.Count), req.Msg.Session, req.Msg.Nonce)
	if err != nil {
		return nil, toWire(err)
	}
	return connect.NewResponse(&nefelev1.BarrierServiceWaitResponse{Arrived: int32(n)}), nil
}

// portServer serves PortService.
type portServer struct{ b PrimitivesBackend }

// ListPorts implements PortService.ListPorts.
func (s portServer) ListPorts(ctx context.Context, req *connect.Request[nefelev1.ListPortsRequest]) (*connect.Response[nefelev1.ListPortsResponse], error) {
	eps, err := s.b.Ports(ctx, req.Msg.Service)
	if err != nil {
		return nil, toWire(err)
	}
	return connect.NewResponse(&nefelev1.ListPortsResponse{Endpoints: endpointsToWire(eps)}), nil
}

func endpointsToWire(eps []model.Endpoint) []*nefelev1.Endpoint {
	out := make([]*nefelev1.Endpoint, len(eps))
	for i, e := range eps {
		out[i] = &nefelev1.Endpoint{Service: e.Service, Port: e.Port, Gpid: string(e.GPID), Node: e.Node, Address: e.Address}
	}
	return out
}

// WatchPorts implements PortService.WatchPorts.
func (s portServer) WatchPorts(ctx context.Context, req *connect.Request[nefelev1.WatchPortsRequest], stream *connect.ServerStream[nefelev1.WatchPortsResponse]) error {
	err := s.b.WatchPorts(ctx, req.Msg.Service, func(eps []model.Endpoint) error {
		return stream.Send(&nefelev1.WatchPortsResponse{Endpoints: endpointsToWire(eps)})
	})
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return toWire(err)
}

// Link implements ProcessService.Link.
func (s *Server) Link(ctx context.Context, req *connect.Request[nefelev1.LinkRequest]) (*connect.Response[nefelev1.LinkResponse], error) {
	c, err := caller(ctx, s.b, req.Header())
	if err != nil {
		return nil, toWire(err)
	}
	if !model.IsGPID(req.Msg.Gpid) {
		return nil, toWire(model.Invalid(req.Msg.Gpid, fmt.Sprintf("invalid GPID %q: link takes a GPID, like p42", req.Msg.Gpid)))
	}
	if err := s.b.Link(ctx, c, model.GPID(req.Msg.Gpid), req.Msg.Trap); err != nil {
		return nil, toWire(err)
	}
	return connect.NewResponse(&nefelev1.LinkResponse{}), nil
}

// Unlink implements ProcessService.Unlink.
func (s *Server) Unlink(ctx context.Context, req *connect.Request[nefelev1.UnlinkRequest]) (*connect.Response[nefelev1.UnlinkResponse], error) {
	c, err := caller(ctx, s.b, req.Header())
	if err != nil {
		return nil, toWire(err)
	}
	if err := s.b.Unlink(ctx, c, model.GPID(req.Msg.Gpid)); err != nil {
		return nil, toWire(err)
	}
	return connect.NewResponse(&nefelev1.UnlinkResponse{}), nil
}

// LinkExits implements ProcessService.LinkExits.
func (s *Server) LinkExits(ctx context.Context, req *connect.Request[nefelev1.LinkExitsRequest], stream *connect.ServerStream[nefelev1.LinkExitsResponse]) error {
	c, err := caller(ctx, s.b, req.Header())
	if err != nil {
		return toWire(err)
	}
	err = s.b.LinkExits(ctx, c, func(p model.Process) error {
		return stream.Send(&nefelev1.LinkExitsResponse{Process: processToWire(p)})
	})
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return toWire(err)
}

// mailboxServer serves MailboxService.
type mailboxServer struct{ b PrimitivesBackend }

// OpenMailbox implements MailboxService.OpenMailbox.
func (s mailboxServer) OpenMailbox(ctx context.Context, req *connect.Request[nefelev1.OpenMailboxRequest]) (*connect.Response[nefelev1.OpenMailboxResponse], error) {
	c, err := caller(ctx, s.b, req.Header())
	if err != nil {
		return nil, toWire(err)
	}
	if err := s.b.OpenMailbox(ctx, c, req.Msg.Address, req.Msg.Key, req.Msg.MaxMessageBytes); err != nil {
		return nil, toWire(err)
	}
	return connect.NewResponse(&nefelev1.OpenMailboxResponse{}), nil
}

// Resolve implements MailboxService.Resolve.
func (s mailboxServer) Resolve(ctx context.Context, req *connect.Request[nefelev1.ResolveRequest]) (*connect.Response[nefelev1.ResolveResponse], error) {
	c, err := caller(ctx, s.b, req.Header())
	if err != nil {
		return nil, toWire(err)
	}
	if req.Msg.TimeoutMs < 0 {
		return nil, toWire(model.Invalid("", fmt.Sprintf("invalid timeout_ms %d: give 0 (the call's deadline) or more", req.Msg.TimeoutMs)))
	}
	if req.Msg.TimeoutMs > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(req.Msg.TimeoutMs)*time.Millisecond)
		defer cancel()
	}
	route, limit, err := s.b.ResolveMailbox(ctx, c, req.Msg.Target, req.Msg.Wait)
	if err != nil {
		return nil, toWire(err)
	}
	return connect.NewResponse(&nefelev1.ResolveResponse{Gpid: route.GPID, Address: route.Address,
		Ticket: route.Ticket, MaxMessageBytes: limit}), nil
}

// Send implements MailboxService.Send.
func (s mailboxServer) Send(ctx context.Context, req *connect.Request[nefelev1.SendRequest]) (*connect.Response[nefelev1.SendResponse], error) {
	ctx, cancel, c, err := s.relayed(ctx, req.Header(), req.Msg.TimeoutMs)
	if err != nil {
		return nil, toWire(err)
	}
	defer cancel()
	gpid, err := s.b.SendMessage(ctx, c, req.Msg.Target, req.Msg.Body, req.Msg.FailFast)
	if err != nil {
		return nil, toWire(err)
	}
	return connect.NewResponse(&nefelev1.SendResponse{Gpid: string(gpid)}), nil
}

// Call implements MailboxService.Call.
func (s mailboxServer) Call(ctx context.Context, req *connect.Request[nefelev1.CallRequest]) (*connect.Response[nefelev1.CallResponse], error) {
	ctx, cancel, c, err := s.relayed(ctx, req.Header(), req.Msg.TimeoutMs)
	if err != nil {
		return nil, toWire(err)
	}
	defer cancel()
	body, gpid, err := s.b.CallMessage(ctx, c, req.Msg.Target, req.Msg.Body)
	if err != nil {
		return nil, toWire(err)
	}
	return connect.NewResponse(&nefelev1.CallResponse{Body: body, Gpid: string(gpid)}), nil
}

// defaultMessageTimeout bounds a relayed Send's wait, or Call's, that
// names no timeout.
const defaultMessageTimeout = 5 * time.Second

// relayed returns, for a relayed Send or Call, its caller and ctx bounded
// by timeout_ms (5 s when 0).
func (s mailboxServer) relayed(ctx context.Context, h http.Header, ms int64) (context.Context, context.CancelFunc, *model.Process, error) {
	if ms < 0 {
		return nil, nil, nil, model.Invalid("", fmt.Sprintf("invalid timeout_ms %d: give 0 (5 s) or more", ms))
	}
	c, err := caller(ctx, s.b, h)
	if err != nil {
		return nil, nil, nil, err
	}
	timeout := defaultMessageTimeout
	if ms > 0 {
		timeout = time.Duration(ms) * time.Millisecond
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	return ctx, cancel, c, nil
}
