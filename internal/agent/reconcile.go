package agent

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.etcd.io/etcd/client/v3/concurrency"

	"github.com/nefele/nefele/internal/model"
	"github.com/nefele/nefele/internal/sched"
	"github.com/nefele/nefele/internal/store"
)

const electionPrefix = "/nefele/elections/reconciler"

// reconcile campaigns, with every other agent, to be the cluster's
// reconciler and, while it leads, does the duties that must happen once:
// the processes of a node that went down are marked lost and replaced on
// live nodes, groups are kept at their count, and drained nodes are
// emptied. When the leader dies its session lapses within the lease TTL
// and another agent takes over.
func (a *Agent) reconcile() {
	defer a.bg.Done()
	ttl := max(int(a.cfg.LeaseTTL.Seconds()+0.5), 1)
	for a.ctx.Err() == nil {
		sess, err := concurrency.NewSession(a.store.Client(), concurrency.WithTTL(ttl), concurrency.WithContext(a.ctx))
		if err != nil {
			sleepCtx(a.ctx, time.Second)
			continue
		}
		e := concurrency.NewElection(sess, electionPrefix)
		if err := e.Campaign(a.ctx, a.node.Name); err == nil {
			a.log.Info("leading the reconciler")
			r := &reconciler{a: a, stopping: map[model.GPID]time.Time{}, warned: map[string]string{}}
			r.lead(sess)
		}
		sess.Close()
	}
}

func sleepCtx(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// reconciler is the state of one term of leadership.
type reconciler struct {
	a *Agent
	// stopping holds the processes this term asked to stop, and when: a
	// stop is asked again only after stopRetry.
	stopping map[model.GPID]time.Time
	// warned holds, by subject, the last warning logged, so that a
	// condition that lasts is logged once.
	warned map[string]string
}

const (
	// passGap is the least time between two passes, so that a burst of
	// changes costs one pass.
	passGap = 50 * time.Millisecond
	// passEvery is the most time between two passes.
	passEvery = time.Second
	stopRetry = 30 * time.Second
)

// lead runs a pass of the duties on every change of the cluster view (at
// most one per passGap, at least one per passEvery) until the session or
// the agent ends.
func (r *reconciler) lead(sess *concurrency.Session) {
	a := r.a
	t := time.NewTicker(passEvery)
	defer t.Stop()
	for {
		changed := a.view.Changed()
		r.pass(a.ctx)
		select {
		case <-a.ctx.Done():
			return
		case <-sess.Done():
			if !a.closing.Load() { // at shutdown the agent gives it up
				a.log.Warn("lost the reconciler's lease")
			}
			return
		case <-t.C:
		case <-changed:
			sleepCtx(a.ctx, passGap)
		}
	}
}

// pass looks once at the whole cluster view and acts where it differs from
// what should be. Every action is a store transaction conditional on the
// records it read, so a pass over a view that lags does no harm: its
// actions fail and the next pass, over a newer view, tries again.
func (r *reconciler) pass(ctx context.Context) {
	nodes := r.a.view.Nodes()
	live := r.a.view.Live()
	p := &placer{views: r.a.nodeViews(), spread: map[string]map[string]int{}}
	for _, n := range nodes {
		for g, c := range n.Groups {
			if p.spread[g] == nil {
				p.spread[g] = map[string]int{}
			}
			p.spread[g][n.Name] = c
		}
	}
	r.replaceLost(ctx, nodes, live, p)
	r.placeRefused(ctx, p)
	for _, g := range r.a.view.Groups() {
		r.keepGroup(ctx, g, p)
	}
	r.drain(ctx, nodes, live, p)
}

// placeRefused places again the replacements (of lost or drained
// processes) that the agent of their node refused for want of room: the
// view they were placed over was behind. Group members are not among them:
// keepGroup starts new ones in their place.
func (r *reconciler) placeRefused(ctx context.Context, pl *placer) {
	for _, p := range r.a.view.Refused() {
		if p.Group != "" || p.Replaces == "" {
			continue
		}
		_, rev, _ := r.a.view.Process(p.GPID)
		for i := range pl.views {
			if pl.views[i].Name == p.Node {
				pl.views[i].Refused = strings.TrimPrefix(p.Reason, "node "+p.Node+": ")
			}
		}
		node, err := pl.place(p.Spec, "")
		for i := range pl.views {
			pl.views[i].Refused = ""
		}
		if err != nil {
			r.warn(string(p.GPID), "no node for a refused replacement", "err", err)
			continue
		}
		refusedBy := p.Node
		p.Node, p.Origin, p.State, p.Failure, p.EndedAt = node, r.a.node.Name, model.StatePending, "", time.Time{}
		p.Reason = "placed again: node " + refusedBy + " refused it"
		if ok, err := r.a.store.PutIf(ctx, model.StateFailed, p, rev); err != nil || !ok {
			continue
		}
		r.a.log.Info("placing a refused replacement again", "gpid", p.GPID, "refused_by", refusedBy, "on", node)
		r.startIfLocal(p)
	}
}

// placer places one process at a time over a view of the nodes that counts
// the placements of the pass so far.
type placer struct {
	views  []sched.NodeView
	spread map[string]map[string]int // group → node → live replicas
}

func (p *placer) place(spec model.Spec, group string) (string, error) {
	req := sched.Request{Resources: spec.Resources, Constraints: spec.Constraints, Node: spec.Node, Spread: p.spread[group]}
	cands, err := sched.Place(req, p.views)
	if err != nil {
		return "", err
	}
	picks := []string{cands[0].Node}
	for i := range p.views {
		if p.views[i].Name == picks[0] {
			p.views[i].Allocated.CPUMilli += spec.Resources.CPUMilli
			p.views[i].Allocated.MemoryBytes += spec.Resources.MemoryBytes
			p.views[i].Allocated.MaxProcs++
		}
	}
	if group != "" {
		if p.spread[group] == nil {
			p.spread[group] = map[string]int{}
		}
		p.spread[group][picks[0]]++
	}
	return picks[0], nil
}

// warn logs msg about subject unless it was the last thing logged about it.
func (r *reconciler) warn(subject, msg string, args ...any) {
	if r.warned[subject] == msg {
		return
	}
	r.warned[subject] = msg
	r.a.log.Warn(msg, append([]any{"subject", subject}, args...)...)
}

// replaceable reports whether the cluster starts a replacement for p when
// its node is lost or drained: group members, and processes whose restart
// policy is not never. A process run by exec is bound to its session.
func replaceable(p model.Process) bool {
	return (p.Group != "" || p.Spec.Restart != model.RestartNever) && !p.Attached
}

// replaceLost marks lost the processes of nodes that are down and starts a
// replacement (new GPID, same name and group) on a live node for each one
// that is replaceable.
func (r *reconciler) replaceLost(ctx context.Context, nodes []store.NodeState, live []model.Process, pl *placer) {
	down := map[string]bool{}
	for _, n := range nodes {
		if !n.Up {
			down[n.Name] = true
		}
	}
	for _, p := range live {
		if !down[p.Node] {
			continue
		}
		_, rev, _ := r.a.view.Process(p.GPID)
		var repl *model.Process
		if replaceable(p) {
			rp, err := r.successor(ctx, p, pl, "replaces "+string(p.GPID)+" of node "+p.Node)
			if err != nil {
				r.warn(string(p.GPID), "no node for a replacement", "err", err)
			} else {
				repl = &rp
			}
		}
		ok, err := r.a.store.Replace(ctx, p, rev, repl)
		if err != nil || !ok {
			continue
		}
		lost := p
		lost.State, lost.Reason = model.StateLost, "its node "+p.Node+" is down"
		r.a.endedForGood(lost)
		if repl != nil {
			r.a.log.Info("replaced a lost process", "lost", p.GPID, "replacement", repl.GPID, "on", repl.Node)
			r.startIfLocal(*repl)
		}
	}
}

// successor returns the record of a new process that takes p's place (new
// GPID, same name, group and replica index) on a node picked for it.
func (r *reconciler) successor(ctx context.Context, p model.Process, pl *placer, reason string) (model.Process, error) {
	spec := p.Spec
	spec.Node = "" // a pin to the node that is gone would keep it from running
	node, err := pl.place(spec, p.Group)
	if err != nil {
		return model.Process{}, err
	}
	gpids, err := r.a.nextGPIDs(ctx, 1)
	if err != nil {
		return model.Process{}, err
	}
	return model.Process{GPID: gpids[0], Name: p.Name, Group: p.Group, Replica: p.Replica,
		Node: node, Origin: r.a.node.Name, Spec: spec, State: model.StatePending,
		CreatedAt: time.Now(), Reason: reason, Replaces: p.GPID}, nil
}

// startIfLocal starts p when it was placed on this node; the agents of
// other nodes start theirs when the assignment appears.
func (r *reconciler) startIfLocal(p model.Process) {
	if p.Node == r.a.node.Name {
		r.a.startAssigned(p)
	}
}

// keepGroup keeps group g at its count. Members whose place is empty (lost
// without a replacement, refused for capacity, stopped because their agent
// shut down) leave the group and new ones are started in their place; members stopped on request stay stopped and
// keep their place, until their records are forgotten (after the
// retention), when they leave the group and its count. Beyond the count,
// ended members leave first, then the newest live ones are stopped,
// gracefully.
func (r *reconciler) keepGroup(ctx context.Context, g store.Group, pl *placer) {
	var gone, ended, forgotten []model.GPID
	var running []model.Process
	for _, gp := range g.GPIDs {
		p, _, ok := r.a.view.Process(gp)
		switch {
		case !ok:
			if _, _, err := r.a.store.Get(ctx, gp); errors.Is(err, model.ErrNoProcess) {
				forgotten = append(forgotten, gp)
			}
		case p.State == model.StateLost && p.ReplacedBy == "", p.State == model.StateFailed && p.Failure == "no_capacity",
			p.State.Ended() && strings.HasPrefix(p.Reason, model.ShutdownReason):
			gone = append(gone, gp)
		case p.State.Ended():
			ended = append(ended, gp)
		default:
			running = append(running, p)
		}
	}
	if len(forgotten) > 0 {
		r.a.store.DropMembers(ctx, g, g.Rev, forgotten, max(g.Replicas-len(forgotten), 0))
		return // the next pass sees the group without them
	}
	members := len(g.GPIDs) - len(gone)
	if extra := members - g.Replicas; extra > 0 {
		drop := append(gone, ended[:min(extra, len(ended))]...)
		extra -= min(extra, len(ended))
		// The newest first: the highest replica index, then the latest GPID.
		slices.SortFunc(running, func(x, y model.Process) int {
			if c := cmp.Compare(y.Replica, x.Replica); c != 0 {
				return c
			}
			return cmp.Compare(gpidSeq(y.GPID), gpidSeq(x.GPID))
		})
		for _, p := range running[:extra] {
			r.stop(p, "scaled down")
		}
		if len(drop) > 0 {
			r.a.store.DropMembers(ctx, g, g.Rev, drop, g.Replicas)
		}
		return
	}
	if len(gone) > 0 {
		r.a.store.DropMembers(ctx, g, g.Rev, gone, g.Replicas)
		return // the next pass sees the group without them
	}
	missing := g.Replicas - members
	if missing <= 0 {
		return
	}
	used := map[int]bool{}
	for _, gp := range g.GPIDs {
		if p, _, ok := r.a.view.Process(gp); ok {
			used[p.Replica] = true
		}
	}
	var procs []model.Process
	for i := 0; len(procs) < missing; i++ {
		if used[i] {
			continue
		}
		node, err := pl.place(g.Spec, g.Name)
		if err != nil {
			r.warn(g.Name, fmt.Sprintf("group %s: %d of %d replicas, no node for more", g.Name, members+len(procs), g.Replicas), "err", err)
			break
		}
		gpids, err := r.a.nextGPIDs(ctx, 1)
		if err != nil {
			return
		}
		procs = append(procs, model.Process{GPID: gpids[0], Name: g.Name, Group: g.Name, Replica: i, Node: node,
			Origin: r.a.node.Name, Spec: g.Spec, State: model.StatePending, CreatedAt: time.Now(),
			Reason: fmt.Sprintf("replica %d of group %s", i, g.Name)})
	}
	if len(procs) == 0 {
		return
	}
	if ok, err := r.a.store.AddMembers(ctx, g, g.Rev, procs); err != nil || !ok {
		return
	}
	delete(r.warned, g.Name)
	r.a.log.Info("started group members", "group", g.Name, "started", len(procs), "replicas", g.Replicas)
	for _, p := range procs {
		r.startIfLocal(p)
	}
}

func gpidSeq(g model.GPID) uint64 {
	n, _ := model.ParseGPID(string(g))
	return n
}

// drain empties drained nodes: each replaceable process gets a replacement
// on another node and is stopped, gracefully, once the replacement runs;
// the others are stopped. Processes run by exec are left to their session.
func (r *reconciler) drain(ctx context.Context, nodes []store.NodeState, live []model.Process, pl *placer) {
	drained := map[string]bool{}
	for _, n := range nodes {
		if n.Drained && n.Up {
			drained[n.Name] = true
		}
	}
	for _, p := range live {
		switch {
		case !drained[p.Node] || p.Attached || p.Stopping:
		case p.ReplacedBy != "":
			// Stop it once its replacement runs (or ran and ended); a
			// replacement refused for room is placed again first.
			rp, _, ok := r.a.view.Process(p.ReplacedBy)
			waiting := ok && (rp.State == model.StatePending || rp.State == model.StateStarting ||
				rp.State == model.StateFailed && rp.Failure == "no_capacity")
			if !waiting {
				r.stop(p, "drained: its replacement "+string(p.ReplacedBy)+" is up")
			}
		case !replaceable(p):
			r.stop(p, "drained")
		default:
			_, rev, _ := r.a.view.Process(p.GPID)
			repl, err := r.successor(ctx, p, pl, "replaces "+string(p.GPID)+" of drained node "+p.Node)
			if err != nil {
				r.warn(string(p.GPID), "drain: no node for a replacement", "err", err)
				continue
			}
			if ok, err := r.a.store.Handover(ctx, p, rev, repl); err == nil && ok {
				r.a.log.Info("drain: replacing a process", "gpid", p.GPID, "replacement", repl.GPID, "on", repl.Node)
				r.startIfLocal(repl)
			}
		}
	}
}

// stop asks p's agent to stop it, gracefully, once per stopRetry.
func (r *reconciler) stop(p model.Process, why string) {
	if t, ok := r.stopping[p.GPID]; ok && time.Since(t) < stopRetry {
		return
	}
	r.stopping[p.GPID] = time.Now()
	r.a.log.Info("stopping a process", "gpid", p.GPID, "why", why)
	go func() {
		if _, err := r.a.Stop(r.a.ctx, string(p.GPID), 0); err != nil && r.a.ctx.Err() == nil {
			r.a.log.Warn("stop", "gpid", p.GPID, "why", why, "err", err)
		}
	}()
}
