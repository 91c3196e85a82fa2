package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gofrs/flock"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/nefele/nefele/internal/apiserver"
	"github.com/nefele/nefele/internal/etcdembed"
	"github.com/nefele/nefele/internal/isolate"
	"github.com/nefele/nefele/internal/model"
	"github.com/nefele/nefele/internal/store"
	"github.com/nefele/nefele/internal/supervisor"
	nefele "github.com/nefele/nefele/sdk"
	"github.com/nefele/nefele/sdk/mailbox"
)

// Agent is one running Nefele node.
type Agent struct {
	cfg Config
	log *slog.Logger

	lock    *flock.Flock
	etcd    *etcdembed.Member // nil on a worker
	remote  *clientv3.Client  // a worker's client of the cluster's members
	store   *store.Store
	view    *store.View // the watched cluster view
	sup     *supervisor.Supervisor
	lis     net.Listener
	http    *http.Server
	leaseMu sync.Mutex // guards lease
	lease   clientv3.LeaseID
	renewed atomic.Int64                 // when the node lease was last renewed, in Unix ns
	closing atomic.Bool                  // Shutdown has begun
	fenced  map[model.GPID]model.Process // stopped by self-fencing; owned by keepNode
	secret  []byte                       // the cluster's, for process tokens

	ended chan model.Process // processes ended for good, for their links

	portsMu sync.Mutex                       // guards ports
	ports   map[model.GPID]map[string]string // the named ports of each run: name → address

	leasesMu sync.Mutex // guards leases
	leases   map[model.GPID]clientv3.LeaseID

	relaysMu sync.Mutex                   // guards relays
	relays   map[model.GPID]*mailbox.Pool // by sender ("" for no process)
	node     model.Node
	ready    chan struct{}
	ctx      context.Context // lives until Shutdown
	cancel   context.CancelFunc
	bg       sync.WaitGroup

	peersMu sync.Mutex // guards peers
	peers   map[string]*nefele.Client

	admitMu    sync.Mutex // serializes admission
	reservedMu sync.Mutex // guards reserved
	reserved   map[model.GPID]model.Resources

	gpidMu   sync.Mutex // guards gpidNext and gpidEnd
	gpidNext uint64
	gpidEnd  uint64
}

// New checks cfg and returns an agent ready to Start.
func New(cfg Config) (*Agent, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Agent{cfg: cfg, log: cfg.Logger, ready: make(chan struct{}), ctx: ctx, cancel: cancel,
		peers: map[string]*nefele.Client{}, reserved: map[model.GPID]model.Resources{},
		leases: map[model.GPID]clientv3.LeaseID{}, ended: make(chan model.Process, 4096),
		ports: map[model.GPID]map[string]string{}, relays: map[model.GPID]*mailbox.Pool{}}, nil
}

// Start brings the agent up: lock, etcd, store, supervisor, adoption, API.
// On error everything started so far is stopped again.
func (a *Agent) Start(ctx context.Context) (err error) {
	defer func() {
		if err != nil {
			a.teardown()
		}
	}()
	if a.lock, err = lockDataDir(a.cfg.DataDir); err != nil {
		return err
	}
	name, err := nodeName(a.cfg.DataDir, a.cfg.Name)
	if err != nil {
		return err
	}
	a.log = a.log.With("node", name)
	if a.lis, err = net.Listen("tcp", a.cfg.Addr); err != nil {
		return fmt.Errorf("listen on %s: %w (is another agent running there? pick another with --addr)", a.cfg.Addr, err)
	}
	client, err := a.connectStore(ctx, name)
	if err != nil {
		return err
	}
	a.store = store.New(client)
	if len(a.cfg.EtcdEndpoints) > 0 {
		if err := a.store.MarkExternal(ctx); err != nil {
			return err
		}
	}
	if a.secret, err = a.store.Secret(ctx); err != nil {
		return err
	}
	a.view = a.store.NewView()
	a.bg.Add(1)
	go func() {
		defer a.bg.Done()
		a.view.Run(a.ctx, func(err error) { a.log.Warn("cluster view", "err", err) })
	}()
	if err := a.startSupervisor(name); err != nil {
		return err
	}
	if err := a.register(ctx, name); err != nil {
		return err
	}
	rev, err := a.store.Revision(ctx)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	if err := a.adopt(ctx); err != nil {
		return err
	}
	// Serve once the view shows this node up: a client that asks right
	// away sees what it just started.
	a.waitView(ctx, func() bool {
		for _, n := range a.view.Nodes() {
			if n.Name == a.node.Name {
				return n.Up
			}
		}
		return false
	})
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("cluster view: %w", err)
	}
	a.bg.Add(3)
	go a.linkEnds()
	go a.watchAssignments(rev)
	go a.reconcile()
	a.serve()
	a.bg.Add(1)
	go a.collect()
	if err := os.WriteFile(filepath.Join(a.cfg.DataDir, "agent.addr"), []byte(a.Addr()+"\n"), 0o640); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	close(a.ready)
	a.log.Info("agent ready", "addr", a.Addr(), "data_dir", a.cfg.DataDir, "pid", os.Getpid())
	return nil
}

func (a *Agent) startSupervisor(name string) error {
	id, err := nodeID(a.cfg.DataDir)
	if err != nil {
		return err
	}
	cgroups, err := isolate.NewTracker("nefele-" + name + "-" + id)
	if err != nil {
		a.log.Warn("processes are not tracked in cgroups: stop and kill reach their process group only", "err", err)
	}
	// Say where the cgroups are, for operators and for test cleanup.
	if err := os.WriteFile(filepath.Join(a.cfg.DataDir, "cgroup"), []byte(cgroups.Base()+"\n"), 0o640); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	sup, err := supervisor.New(supervisor.Config{
		Cgroups: cgroups, NodeID: id,
		Node: name, LogDir: filepath.Join(a.cfg.DataDir, "logs"), Logs: a.cfg.Logs,
		Backoff: a.cfg.Backoff, Record: a.record, Logger: a.log, RotateEvery: a.cfg.RotateEvery,
		Extra: a.processEnv, Feed: a.feed,
	})
	if err != nil {
		return err
	}
	a.sup = sup
	return nil
}

// lastSeen notes in the node record that the node is up, so that once it is
// down `nodes` can tell since when.
func (a *Agent) lastSeen(ctx context.Context) {
	n := a.node
	n.LastSeen = time.Now()
	if err := a.store.PutNode(ctx, n, 0); err != nil && ctx.Err() == nil {
		a.log.Warn("refresh node record", "err", err)
	}
}

func (a *Agent) serve() {
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	protocols.SetUnencryptedHTTP2(true)
	a.http = &http.Server{Handler: apiserver.Handler(a), Protocols: &protocols, ReadHeaderTimeout: 10 * time.Second}
	a.bg.Add(1)
	go func() {
		defer a.bg.Done()
		if err := a.http.Serve(a.lis); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.log.Error("api server", "err", err)
		}
	}()
}

// collect keeps the store and the disk bounded: it trims the event log and
// forgets the processes of this node that ended more than Retention ago,
// their records and their log files.
func (a *Agent) collect() {
	defer a.bg.Done()
	t := time.NewTicker(a.cfg.GCEvery)
	defer t.Stop()
	for {
		select {
		case <-a.ctx.Done():
			return
		case <-t.C:
		}
		if err := a.store.TrimEvents(a.ctx, 10000); err != nil && a.ctx.Err() == nil {
			a.log.Warn("trim events", "err", err)
		}
		if err := a.forgetEnded(a.ctx); err != nil && a.ctx.Err() == nil {
			a.log.Warn("forget ended processes", "err", err)
		}
		a.lastSeen(a.ctx)
		a.saveEndpoints()
	}
}

// saveEndpoints keeps a worker's etcd endpoints, which its client follows
// as members join and leave, in its data dir for its next start.
func (a *Agent) saveEndpoints() {
	if a.remote == nil || len(a.cfg.EtcdEndpoints) > 0 {
		return
	}
	eps := a.remote.Endpoints()
	if len(eps) == 0 {
		return
	}
	want := strings.Join(eps, "\n") + "\n"
	if b, err := os.ReadFile(a.workerFile()); err == nil && string(b) == want {
		return
	}
	if err := os.WriteFile(a.workerFile(), []byte(want), 0o640); err != nil {
		a.log.Warn("save etcd endpoints", "err", err)
	}
}

// forgetEnded deletes the records and log files of this node's processes
// that ended for good more than Retention ago.
func (a *Agent) forgetEnded(ctx context.Context) error {
	procs, err := a.store.List(ctx, true)
	if err != nil {
		return err
	}
	cutoff := time.Now().Add(-a.cfg.Retention)
	for _, p := range procs {
		if p.Node != a.node.Name || !p.State.Ended() || p.EndedAt.IsZero() || p.EndedAt.After(cutoff) {
			continue
		}
		if _, live := a.sup.Get(p.GPID); live {
			continue
		}
		if err := a.store.Delete(ctx, p); err != nil {
			return err
		}
		a.sup.RemoveLogs(p)
	}
	return nil
}

// Ready is closed once the agent serves.
func (a *Agent) Ready() <-chan struct{} { return a.ready }

// Addr returns the address the API listens on.
func (a *Agent) Addr() string {
	if a.lis == nil {
		return a.cfg.Addr
	}
	return a.lis.Addr().String()
}

// AdvertisedAddr returns the address other nodes reach the API at: that of
// --advertise (on the listening port when it says port 0), or Addr.
func (a *Agent) AdvertisedAddr() string {
	if a.cfg.Advertise == "" {
		return a.Addr()
	}
	host, port, _ := net.SplitHostPort(a.cfg.Advertise)
	if port == "0" {
		_, port, _ = net.SplitHostPort(a.Addr())
	}
	return net.JoinHostPort(host, port)
}

// NodeName implements apiserver.Backend.
func (a *Agent) NodeName() string { return a.node.Name }

// Shutdown stops the agent: every process gets its stop signal, a grace and
// then SIGKILL, and its final state is recorded; then the API, the node
// lease and etcd stop, and the data dir is unlocked.
func (a *Agent) Shutdown(ctx context.Context) error {
	a.closing.Store(true)
	// Each process gets its own grace and then SIGKILL, so stopping them
	// ends on its own; ShutdownGrace bounds only what comes after.
	var err error
	if a.sup != nil {
		err = a.sup.Shutdown(ctx)
	}
	ctx, cancel := context.WithTimeout(ctx, a.cfg.ShutdownGrace)
	defer cancel()
	if a.http != nil {
		hctx, hcancel := context.WithTimeout(ctx, 2*time.Second)
		a.http.Shutdown(hctx)
		hcancel()
		a.http.Close()
	}
	a.leaseMu.Lock()
	lease := a.lease
	a.leaseMu.Unlock()
	if a.store != nil && lease != 0 {
		// The store may have lost its quorum if the cluster goes down too.
		sctx, scancel := context.WithTimeout(ctx, 2*time.Second)
		a.lastSeen(sctx)
		a.store.Client().Revoke(sctx, lease)
		scancel()
	}
	a.teardown()
	return err
}

func (a *Agent) teardown() {
	a.cancel()
	a.closePeers()
	if a.lis != nil {
		a.lis.Close()
	}
	if a.remote != nil {
		a.remote.Close()
	}
	if a.etcd != nil {
		a.etcd.Close()
	}
	a.bg.Wait()
	if a.lock != nil {
		os.Remove(filepath.Join(a.cfg.DataDir, "LOCK.pid"))
		os.Remove(filepath.Join(a.cfg.DataDir, "agent.addr"))
		a.lock.Unlock()
	}
}
