package agent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/nefele/nefele/internal/apiserver"
	"github.com/nefele/nefele/internal/model"
)

// register writes the node record, bound to a new node lease, and keeps
// the lease alive until Shutdown (see keepNode).
func (a *Agent) register(ctx context.Context, name string) error {
	now := time.Now()
	a.node = model.Node{
		Name: name, Address: a.AdvertisedAddr(), PID: os.Getpid(), Server: a.etcd != nil, Labels: a.cfg.Labels,
		CPU: a.cfg.CPU, Memory: a.cfg.Memory, MaxProcs: a.cfg.MaxProcs, Version: apiserver.Version,
		StartedAt: now, LastSeen: now,
	}
	ka, err := a.grantNodeLease(ctx)
	if err != nil {
		return err
	}
	a.bg.Add(1)
	go a.keepNode(ka)
	return nil
}

// grantNodeLease grants a node lease, writes the node record with its
// liveness key bound to it, and returns its keepalive channel.
func (a *Agent) grantNodeLease(ctx context.Context) (<-chan *clientv3.LeaseKeepAliveResponse, error) {
	lease, err := a.store.Client().Grant(ctx, int64(a.cfg.LeaseTTL.Seconds()+0.5))
	if err != nil {
		return nil, fmt.Errorf("node lease: %w", err)
	}
	n := a.node
	n.LastSeen = time.Now()
	if err := a.store.PutNode(ctx, n, lease.ID); err != nil {
		return nil, err // the lease, not kept alive, expires on its own
	}
	ka, err := a.store.Client().KeepAlive(a.ctx, lease.ID)
	if err != nil {
		return nil, fmt.Errorf("node lease keepalive: %w", err)
	}
	a.leaseMu.Lock()
	a.lease = lease.ID
	a.leaseMu.Unlock()
	a.renewed.Store(time.Now().UnixNano())
	return ka, nil
}

// keepNode keeps the node lease alive. When the store is out of reach for
// longer than the lease TTL, the cluster takes this node for dead and
// replaces its processes elsewhere: so after FenceGrace more, this agent
// stops the processes that the cluster replaces (self-fencing), and it
// registers anew as soon as it reaches the store again, then reconciles
// with what the cluster decided meanwhile (rejoin).
func (a *Agent) keepNode(ka <-chan *clientv3.LeaseKeepAliveResponse) {
	defer a.bg.Done()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	fenced := false
	a.fenced = map[model.GPID]model.Process{}
	for {
		select {
		case <-a.ctx.Done():
			return
		case _, ok := <-ka:
			if ok {
				a.renewed.Store(time.Now().UnixNano())
				continue
			}
			a.log.Warn("node lease lapsed: the store is out of reach; registering again once it is back")
			ka = a.reregister(&fenced)
			if ka == nil {
				return
			}
		case <-tick.C:
			if !fenced && a.leaseOverdue() {
				a.fence()
				fenced = true
			}
		}
	}
}

// leaseOverdue reports whether the node lease has not been renewed for
// longer than its TTL and the fence grace: the cluster has taken this node
// for dead by now.
func (a *Agent) leaseOverdue() bool {
	last := time.Unix(0, a.renewed.Load())
	return time.Since(last) > a.cfg.LeaseTTL+a.cfg.FenceGrace
}

// reregister grants a new node lease once the store answers again, fencing
// meanwhile when the lease is overdue, and reconciles with the cluster. It
// returns the new keepalive channel, or nil when the agent shuts down.
func (a *Agent) reregister(fenced *bool) <-chan *clientv3.LeaseKeepAliveResponse {
	for a.ctx.Err() == nil {
		if !*fenced && a.leaseOverdue() {
			a.fence()
			*fenced = true
		}
		// Short attempts, so that the overdue check between them is timely.
		ctx, cancel := context.WithTimeout(a.ctx, 500*time.Millisecond)
		ka, err := a.grantNodeLease(ctx)
		cancel()
		if err != nil {
			sleepCtx(a.ctx, 200*time.Millisecond)
			continue
		}
		a.log.Info("node registered again")
		if err := a.rejoin(a.ctx); err != nil && a.ctx.Err() == nil {
			a.log.Warn("rejoin", "err", err)
		}
		*fenced = false
		return ka
	}
	return nil
}

// fence stops at once, without waiting for the store, every process of
// this node that the cluster replaces when the node is taken for dead:
// group members and processes whose restart policy is not never (see
// replaceable). The others go on; the cluster marks them lost, and they
// are this node's again when it is back.
func (a *Agent) fence() {
	n := 0
	for _, p := range a.sup.List() {
		if replaceable(p) {
			a.fenced[p.GPID] = p
			a.sup.Evict(p.GPID, "fenced: node "+a.node.Name+" lost the cluster for longer than its lease")
			n++
		}
	}
	a.log.Warn("self-fencing: the node lease is overdue, the cluster replaces this node's processes", "stopped", n)
}

// rejoin reconciles this node's processes with the cluster's record after
// its lease lapsed: the ones the cluster replaced are fenced (never left
// running twice), the ones it marked lost without a replacement are this
// node's again, and the ones this node fenced that the cluster did not
// replace after all (the whole store was out of reach, not just this node)
// start again in place.
func (a *Agent) rejoin(ctx context.Context) error {
	for gpid, p := range a.fenced {
		<-a.sup.Done(gpid) // its end is recorded, or was refused, by now
		rec, _, err := a.store.Get(ctx, gpid)
		if err != nil && !errors.Is(err, model.ErrNoProcess) {
			return err
		}
		delete(a.fenced, gpid)
		// A group member the cluster marked lost without a replacement is
		// the reconciler's to start again (keepGroup), elsewhere or here.
		if err != nil || rec.Node != a.node.Name || rec.ReplacedBy != "" || rec.State == model.StateLost && rec.Group != "" {
			continue
		}
		p = rec
		p.Restarts++
		p.Exit, p.Failure, p.Reason = nil, "", "started again: fenced while the store was out of reach, and not replaced"
		a.log.Info("starting again a fenced process the cluster did not replace", "gpid", gpid)
		go a.sup.Start(a.ctx, p)
	}
	for _, p := range a.sup.List() {
		rec, _, err := a.store.Get(ctx, p.GPID)
		if err != nil && !errors.Is(err, model.ErrNoProcess) {
			return err
		}
		if err := a.reclaim(ctx, p, rec, err); err != nil {
			return err
		}
	}
	return nil
}

// reclaim settles one process that this node runs, p, against rec, its
// record in the store (getErr when there is none): lost and not replaced,
// it is recorded as this node's again; replaced, moved or forgotten, it is
// fenced.
func (a *Agent) reclaim(ctx context.Context, p, rec model.Process, getErr error) error {
	switch {
	case a.lostHere(rec, getErr):
		return a.takeBack(ctx, p)
	case getErr != nil, rec.Node != a.node.Name, rec.ReplacedBy != "" && rec.State.Ended():
		a.sup.Evict(p.GPID, "fenced: the cluster replaced it while node "+a.node.Name+" was away")
	}
	return nil
}

// lostHere reports whether rec (getErr: none was found) says that the
// cluster took the process for lost with this node and gave it to nobody:
// then it is this node's again.
func (a *Agent) lostHere(rec model.Process, getErr error) bool {
	return getErr == nil && rec.Node == a.node.Name && rec.State == model.StateLost && rec.ReplacedBy == ""
}

// takeBack records p, which runs here, as this node's again.
func (a *Agent) takeBack(ctx context.Context, p model.Process) error {
	p.Reason = "its node came back"
	return a.store.Put(ctx, model.StateLost, p)
}

// record is the supervisor's recorder: it writes a transition, and when
// the store says the process is no longer this node's (model.ErrFenced),
// settles it as reclaim does.
func (a *Agent) record(ctx context.Context, from model.State, p model.Process) error {
	if from == model.StateRunning && p.State != model.StateRunning {
		a.endRun(p.GPID) // the run ended: what was bound to its life goes
	}
	if from != model.StateRunning && p.State == model.StateRunning {
		a.publishPorts(p)
	}
	err := a.store.Put(ctx, from, p)
	if p.State.Ended() {
		a.portsMu.Lock()
		delete(a.ports, p.GPID)
		a.portsMu.Unlock()
	}
	if err == nil && !from.Ended() && p.State.Ended() {
		a.endedForGood(p) // its links fire
	}
	if !errors.Is(err, model.ErrFenced) {
		return err
	}
	rec, _, gerr := a.store.Get(ctx, p.GPID)
	if gerr != nil && !errors.Is(gerr, model.ErrNoProcess) {
		return err
	}
	if a.lostHere(rec, gerr) {
		return a.takeBack(ctx, p)
	}
	if !p.State.Ended() {
		a.sup.Evict(p.GPID, "fenced: the cluster replaced it while node "+a.node.Name+" was away")
	}
	return err
}
