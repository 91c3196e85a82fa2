package agent

import (
	"context"
	"fmt"

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

// fireLinks acts on the processes linked with dead, which has ended for
// good: those that trap are told, the others are stopped (and fire their
// own links in turn when they end).
func (a *Agent) fireLinks(dead model.Process) {
	ctx := a.ctx
	if has, err := a.store.HasLinks(ctx, dead.GPID); err != nil || !has {
		return // most processes have none: one read, no write
	}
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
