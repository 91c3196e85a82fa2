package agent

import (
	"context"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/nefele/nefele/internal/model"
)

// bound returns the lease to bind a write to: the caller's when bind is
// set (which needs a calling process), else none.
func (a *Agent) bound(ctx context.Context, caller *model.Process, bind bool, what string) (clientv3.LeaseID, error) {
	if !bind {
		return 0, nil
	}
	p, err := needCaller(caller, what+" bound to the caller's life")
	if err != nil {
		return 0, err
	}
	return a.leaseOf(ctx, p)
}

// KVGet implements apiserver.Backend.
func (a *Agent) KVGet(ctx context.Context, key string) (model.KeyValue, error) {
	if err := model.ValidateKey(key); err != nil {
		return model.KeyValue{}, err
	}
	return a.store.KVGet(ctx, key)
}

// KVPut implements apiserver.Backend.
func (a *Agent) KVPut(ctx context.Context, caller *model.Process, key string, value []byte, bind bool) (int64, error) {
	if err := model.ValidateKey(key); err != nil {
		return 0, err
	}
	lease, err := a.bound(ctx, caller, bind, "put")
	if err != nil {
		return 0, err
	}
	return a.store.KVPut(ctx, key, value, lease)
}

// KVDelete implements apiserver.Backend.
func (a *Agent) KVDelete(ctx context.Context, key string, prefix bool) (int64, int64, error) {
	if !prefix {
		if err := model.ValidateKey(key); err != nil {
			return 0, 0, err
		}
	}
	return a.store.KVDelete(ctx, key, prefix)
}

// KVCompareAndSwap implements apiserver.Backend.
func (a *Agent) KVCompareAndSwap(ctx context.Context, caller *model.Process, key string, expect model.Expect, value []byte, del, bind bool) (bool, model.KeyValue, bool, int64, error) {
	if err := model.ValidateKey(key); err != nil {
		return false, model.KeyValue{}, false, 0, err
	}
	if err := expect.Validate(); err != nil {
		return false, model.KeyValue{}, false, 0, err
	}
	lease, err := a.bound(ctx, caller, bind && !del, "compare-and-swap")
	if err != nil {
		return false, model.KeyValue{}, false, 0, err
	}
	return a.store.KVCompareAndSwap(ctx, key, expect, value, del, lease)
}

// KVList implements apiserver.Backend.
func (a *Agent) KVList(ctx context.Context, prefix string, limit int) ([]model.KeyValue, int64, error) {
	if limit < 0 {
		return nil, 0, model.Invalid("", "invalid limit: use 0 (no limit) or more")
	}
	return a.store.KVList(ctx, prefix, int64(limit))
}

// KVWatch implements apiserver.Backend.
func (a *Agent) KVWatch(ctx context.Context, key string, prefix bool, from int64, fn func([]model.KVEvent) error) error {
	if !prefix {
		if err := model.ValidateKey(key); err != nil {
			return err
		}
	}
	if from < 0 {
		return model.Invalid("", "invalid revision: use 0 (from now) or more")
	}
	return a.store.KVWatch(ctx, key, prefix, from, fn)
}

// Register implements apiserver.Backend: the name goes to the calling
// process, bound to its life.
func (a *Agent) Register(ctx context.Context, caller *model.Process, name string) (model.Registration, error) {
	if err := model.ValidateName(name); err != nil {
		return model.Registration{}, err
	}
	p, err := needCaller(caller, "register")
	if err != nil {
		return model.Registration{}, err
	}
	lease, err := a.leaseOf(ctx, p)
	if err != nil {
		return model.Registration{}, err
	}
	return a.store.Register(ctx, name, p.GPID, p.Node, lease)
}

// Unregister implements apiserver.Backend.
func (a *Agent) Unregister(ctx context.Context, caller *model.Process, name string) error {
	p, err := needCaller(caller, "unregister")
	if err != nil {
		return err
	}
	return a.store.Unregister(ctx, name, p.GPID)
}

// Lookup implements apiserver.Backend.
func (a *Agent) Lookup(ctx context.Context, name string) (model.Registration, error) {
	if err := model.ValidateName(name); err != nil {
		return model.Registration{}, err
	}
	return a.store.Lookup(ctx, name)
}

// ListNames implements apiserver.Backend.
func (a *Agent) ListNames(ctx context.Context, prefix string) ([]model.Registration, error) {
	return a.store.Names(ctx, prefix)
}

// WatchName implements apiserver.Backend.
func (a *Agent) WatchName(ctx context.Context, name string, fn func(model.Registration, bool) error) error {
	if err := model.ValidateName(name); err != nil {
		return err
	}
	return a.store.WatchName(ctx, name, fn)
}
