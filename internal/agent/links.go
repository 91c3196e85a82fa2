package agent

import (
	"context"
	"fmt"
	"time"

	"github.com/nefele/nefele/internal/model"
)

// Link implements apiserver.Backend: the caller and target are linked both
// ways; a target that has ended already fires the link at once.
func (a *Agent) Link(ctx context.Context, caller *model.Process, target model.GPID, trap bool) error {
	p, err := needCaller(caller, "link")
	if err != nil {
		return err
	}
	if target == p.GPID {
		return model.Invalid(string(target), "a process cannot link with itself")
	}
	t, _, err := a.store.Get(ctx, target)
	if err != nil {
		return err
	}
	if err := a.store.SetLink(ctx, p.GPID, target, trap); err != nil {
		return err
	}
	if t.State.Ended() {
		go a.fireLinks(t)
	}
	return nil
}

// Unlink implements apiserver.Backend.
func (a *Agent) Unlink(ctx context.Context, caller *model.Process, target model.GPID) error {
	p, err := needCaller(caller, "unlink")
	if err != nil {
		return err
	}
	return a.store.Unlink(ctx, p.GPID, target)
}

// LinkExits implements apiserver.Backend.
func (a *Agent) LinkExits(ctx context.Context, caller *model.Process, fn func(model.Process) error) error {
	p, err := needCaller(caller, "link exits")
	if err != nil {
		return err
	}
	return a.store.WatchLinkExits(ctx, p.GPID, fn)
}

// endedForGood queues p, which has ended for good, for its links.
func (a *Agent) endedForGood(p model.Process) {
	select {
	case a.ended <- p:
	default:
		go a.fireLinks(p) // the queue is full: do it at once
	}
}

// linkEnds fires the links of ended processes, looking them up in
// batches: most processes have none, and one read per batch (no write)
// says which do, off the path of the processes that start meanwhile.
func (a *Agent) linkEnds() {
	defer a.bg.Done()
	for {
		var batch []model.Process
		select {
		case <-a.ctx.Done():
			return
		case p := <-a.ended:
			batch = append(batch, p)
		}
		timer := time.NewTimer(linkBatch)
	collect:
		for len(batch) < 256 {
			select {
			case p := <-a.ended:
				batch = append(batch, p)
			case <-timer.C:
				break collect
			case <-a.ctx.Done():
				timer.Stop()
				return
			}
		}
		timer.Stop()
		gpids := make([]model.GPID, len(batch))
		byGPID := make(map[model.GPID]model.Process, len(batch))
		for i, p := range batch {
			gpids[i], byGPID[p.GPID] = p.GPID, p
		}
		linked, err := a.store.WithLinks(a.ctx, gpids)
		if err != nil {
			if a.ctx.Err() == nil {
				a.log.Warn("links of ended processes", "err", err)
			}
			linked = gpids // look at each
		}
		for _, g := range linked {
			a.fireLinks(byGPID[g])
		}
	}
}

// linkBatch is how long ends are gathered before their links are looked up.
const linkBatch = 20 * time.Millisecond

// fireLinks acts on the processes linked with dead, which has ended for
// good: those that trap are told, the others are stopped (and fire their
// own links in turn when they end).
func (a *Agent) fireLinks(dead model.Process) {
	ctx := a.ctx
	links, err := a.store.TakeLinks(ctx, dead.GPID)
	if err != nil {
		a.log.Warn("links of an ended process", "gpid", dead.GPID, "err", err)
		return
	}
	for _, l := range links {
		other, _, err := a.store.Get(ctx, l.Other)
		if err != nil || other.State.Ended() {
			continue
		}
		if l.Trap {
			if err := a.store.PutLinkExit(ctx, l.Other, dead); err != nil {
				a.log.Warn("tell a linked process", "gpid", l.Other, "dead", dead.GPID, "err", err)
			}
			continue
		}
		a.log.Info("stopping a process linked with one that ended", "gpid", l.Other, "linked", dead.GPID)
		go func() {
			if _, err := a.Stop(ctx, string(l.Other), 0); err != nil && ctx.Err() == nil {
				a.log.Warn(fmt.Sprintf("stop %s, linked with %s", l.Other, dead.GPID), "err", err)
			}
		}()
	}
	if err := a.store.ForgetLinkExits(ctx, dead.GPID); err != nil {
		a.log.Warn("forget link exits", "gpid", dead.GPID, "err", err)
	}
}
