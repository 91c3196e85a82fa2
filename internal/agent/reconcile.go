package agent

import (
	"context"
	"time"

	"go.etcd.io/etcd/client/v3/concurrency"

	"github.com/nefele/nefele/internal/model"
	"github.com/nefele/nefele/internal/sched"
)

const electionPrefix = "/nefele/elections/reconciler"

// reconcile campaigns, with every other agent, to be the cluster's
// reconciler and, while it leads, does the duties that must happen once:
// the processes of a node that went down are marked lost and replaced on
// live nodes. When the leader dies its session lapses within the lease TTL
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
			a.lead(sess)
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

// lead runs the reconciler's duties until the session or the agent ends.
func (a *Agent) lead(sess *concurrency.Session) {
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-a.ctx.Done():
			return
		case <-sess.Done():
			a.log.Warn("lost the reconciler's lease")
			return
		case <-t.C:
			if err := a.replaceLost(a.ctx); err != nil && a.ctx.Err() == nil {
				a.log.Warn("reconcile", "err", err)
			}
		}
	}
}

// replaceLost marks lost the processes of nodes that are down and starts a
// replacement (new GPID, same name and group) on a live node for each group
// member and each process whose restart policy is not never.
func (a *Agent) replaceLost(ctx context.Context) error {
	nodes, err := a.store.Nodes(ctx)
	if err != nil {
		return err
	}
	down := map[string]bool{}
	for _, n := range nodes {
		if !n.Up {
			down[n.Name] = true
		}
	}
	if len(down) == 0 {
		return nil
	}
	procs, revs, err := a.store.LiveOn(ctx, down)
	if err != nil || len(procs) == 0 {
		return err
	}
	views, err := a.nodeViews(ctx)
	if err != nil {
		return err
	}
	for i, p := range procs {
		if err := a.replace(ctx, p, revs[i], views); err != nil {
			a.log.Warn("replace lost process", "gpid", p.GPID, "err", err)
		}
	}
	return nil
}

func (a *Agent) replace(ctx context.Context, p model.Process, rev int64, views []sched.NodeView) error {
	var repl *model.Process
	if (p.Group != "" || p.Spec.Restart != model.RestartNever) && !p.Attached {
		picks, err := sched.PlaceN(sched.Request{Resources: p.Spec.Resources, Constraints: p.Spec.Constraints}, views, 1)
		if err == nil {
			gpids, err := a.nextGPIDs(ctx, 1)
			if err != nil {
				return err
			}
			repl = &model.Process{GPID: gpids[0], Name: p.Name, Group: p.Group, Replica: p.Replica,
				Node: picks[0], Origin: a.node.Name, Spec: p.Spec, State: model.StatePending,
				CreatedAt: time.Now(), Reason: "replaces " + string(p.GPID) + " of node " + p.Node}
			repl.Spec.Node = "" // a pin to the node that died would keep it from running
		} else {
			a.log.Warn("no node for a replacement", "gpid", p.GPID, "err", err)
		}
	}
	ok, err := a.store.Replace(ctx, p, rev, repl)
	if err != nil || !ok {
		return err
	}
	if repl != nil {
		a.log.Info("replaced a lost process", "lost", p.GPID, "replacement", repl.GPID, "node", repl.Node)
		if repl.Node == a.node.Name {
			go a.sup.Start(a.ctx, *repl)
		}
	}
	return nil
}
