package agent

import (
	"context"
	"fmt"
	"time"

	"github.com/nefele/nefele/internal/apiserver"
	"github.com/nefele/nefele/internal/model"
)

// Campaign implements apiserver.Backend: the caller waits in the queue of
// the election's candidates until it is first, the leader.
func (a *Agent) Campaign(ctx context.Context, caller *model.Process, name string, value []byte, session int64, nonce string) (apiserver.CampaignResult, error) {
	if err := model.ValidateKey(name); err != nil {
		return apiserver.CampaignResult{}, err
	}
	queue := a.store.ElectionQueue(name)
	e, err := a.enter(ctx, caller, queue, session, 0, value, nonce)
	if err != nil {
		return apiserver.CampaignResult{}, err
	}
	if !e.place.First {
		if err := a.store.WaitFirst(ctx, queue, e.place.Key, e.place.Rev); err != nil {
			a.leave(ctx, e)
			return apiserver.CampaignResult{}, err
		}
	}
	e.stopKeep() // the caller keeps an opened session alive from now on
	res := apiserver.CampaignResult{Candidacy: e.id, Revision: e.place.Rev}
	if e.opened {
		res.Session, res.TTL = int64(e.lease), e.ttl
	}
	return res, nil
}

// Resign implements apiserver.Backend.
func (a *Agent) Resign(ctx context.Context, name, candidacy string) error {
	if err := model.ValidateKey(name); err != nil {
		return err
	}
	if candidacy == "" || checkNonce(candidacy) != nil {
		return model.Invalid(candidacy, fmt.Sprintf("invalid candidacy %q: use the one Campaign returned, or the nonce it was given", candidacy))
	}
	return a.releasePlace(ctx, a.store.ElectionQueue(name)+candidacy, func() error {
		return &model.SubjectError{Subject: name, Err: model.ErrNotHeld,
			Msg: fmt.Sprintf("election %s has no candidacy %s (resigned already, or its candidate ended)", name, candidacy)}
	})
}

// Leader implements apiserver.Backend.
func (a *Agent) Leader(ctx context.Context, name string) (apiserver.ElectionLeader, error) {
	if err := model.ValidateKey(name); err != nil {
		return apiserver.ElectionLeader{}, err
	}
	l, found, err := a.leader(ctx, name)
	if err == nil && !found {
		err = &model.SubjectError{Subject: name, Err: model.ErrNoLeader, Msg: "no leader: election " + name + " has no candidate"}
	}
	return l, err
}

func (a *Agent) leader(ctx context.Context, name string) (apiserver.ElectionLeader, bool, error) {
	id, value, rev, found, err := a.store.First(ctx, a.store.ElectionQueue(name))
	if err != nil || !found {
		return apiserver.ElectionLeader{}, false, err
	}
	q := decodeQueued(value)
	return apiserver.ElectionLeader{Candidacy: id, Value: q.Value, Revision: rev, GPID: q.GPID}, true, nil
}

// Observe implements apiserver.Backend: fn gets the leader now (found
// false: none), then at each change.
func (a *Agent) Observe(ctx context.Context, name string, fn func(apiserver.ElectionLeader, bool) error) error {
	if err := model.ValidateKey(name); err != nil {
		return err
	}
	last, sent := "", false
	return a.store.Until(ctx, a.store.ElectionQueue(name), func() (bool, error) {
		l, found, err := a.leader(ctx, name)
		if err != nil {
			return false, err
		}
		if !sent || l.Candidacy != last {
			sent, last = true, l.Candidacy
			return false, fn(l, found)
		}
		return false, nil
	})
}

// BarrierWait implements apiserver.Backend: the caller's place counts
// until count have arrived; then the barrier is open for good.
func (a *Agent) BarrierWait(ctx context.Context, caller *model.Process, name string, count int, session int64, nonce string) (int, error) {
	if err := model.ValidateKey(name); err != nil {
		return 0, err
	}
	if count < 1 {
		return 0, model.Invalid(fmt.Sprint(count), fmt.Sprintf("invalid barrier count %d: use 1 or more", count))
	}
	places, open := a.store.BarrierQueue(name)
	e, err := a.enter(ctx, caller, places, session, 0, nil, nonce)
	if err != nil {
		return 0, err
	}
	e.place.Made = true // the place goes with the call, even one it found
	defer a.leave(ctx, e)
	arrived := 0
	err = a.store.Until(ctx, a.store.BarrierPrefix(name), func() (bool, error) {
		n, isOpen, err := a.store.Count(ctx, places, open)
		if err != nil {
			return false, err
		}
		if isOpen || int(n) >= count {
			arrived = int(n)
			return true, a.store.PutIfAbsent(ctx, open, time.Now().UTC().Format(time.RFC3339Nano))
		}
		return false, nil
	})
	return arrived, err
}
