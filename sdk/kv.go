package nefele

import (
	"context"

	"connectrpc.com/connect"

	nefelev1 "github.com/nefele/nefele/api/nefele/v1"
)

// Re-exported types of the key-value store and of names.
type (
	// KeyValue is one key of the store.
	KeyValue = nefelev1.KeyValue
	// KVEvent is one change of a watched key.
	KVEvent = nefelev1.KVEvent
	// RegisteredName is a name and the process that holds it.
	RegisteredName = nefelev1.RegisteredName
)

// KV is the tenant's key-value store: linearizable, kept in the cluster's
// etcd. Get one with Client.KV.
type KV struct{ c *Client }

// KV returns the key-value store of the client's tenant.
func (c *Client) KV() *KV { return &KV{c: c} }

// PutOption changes a Put or a CompareAndSwap.
type PutOption func(*putOptions)

type putOptions struct{ bind bool }

// BoundToCaller makes the key live only as long as the calling process:
// it is deleted when the process ends, however it ends. The client must
// call as a managed process (see Connect).
func BoundToCaller() PutOption { return func(o *putOptions) { o.bind = true } }

func putOpts(opts []PutOption) putOptions {
	var o putOptions
	for _, f := range opts {
		f(&o)
	}
	return o
}

// Get returns key; a missing key is an error matching ErrKeyNotFound.
func (kv *KV) Get(ctx context.Context, key string) (*KeyValue, error) {
	res, err := kv.c.kv.Get(ctx, connect.NewRequest(&nefelev1.KVServiceGetRequest{Key: key}))
	if err != nil {
		return nil, kv.c.wrapErr(err)
	}
	return res.Msg.Kv, nil
}

// Put writes key and returns the revision of the write.
func (kv *KV) Put(ctx context.Context, key string, value []byte, opts ...PutOption) (int64, error) {
	res, err := kv.c.kv.Put(ctx, connect.NewRequest(&nefelev1.KVServicePutRequest{Key: key, Value: value, BindToCaller: putOpts(opts).bind}))
	if err != nil {
		return 0, kv.c.wrapErr(err)
	}
	return res.Msg.Revision, nil
}

// Delete deletes key and returns whether it was there.
func (kv *KV) Delete(ctx context.Context, key string) (bool, error) {
	res, err := kv.c.kv.Delete(ctx, connect.NewRequest(&nefelev1.KVServiceDeleteRequest{Key: key}))
	if err != nil {
		return false, kv.c.wrapErr(err)
	}
	return res.Msg.Deleted > 0, nil
}

// DeletePrefix deletes every key that starts with prefix and returns how many.
func (kv *KV) DeletePrefix(ctx context.Context, prefix string) (int64, error) {
	res, err := kv.c.kv.Delete(ctx, connect.NewRequest(&nefelev1.KVServiceDeleteRequest{Key: prefix, Prefix: true}))
	if err != nil {
		return 0, kv.c.wrapErr(err)
	}
	return res.Msg.Deleted, nil
}

// Expect is what CompareAndSwap requires of a key; make one with Absent,
// AtRevision or HasValue.
type Expect struct {
	absent   bool
	revision int64
	value    []byte
}

// Absent expects the key not to exist.
func Absent() Expect { return Expect{absent: true} }

// AtRevision expects the key's last write to be at revision rev.
func AtRevision(rev int64) Expect { return Expect{revision: rev} }

// HasValue expects the key to hold value.
func HasValue(value []byte) Expect {
	if value == nil {
		value = []byte{}
	}
	return Expect{value: value}
}

// CompareAndSwap writes value to key if it is as expect says, and returns
// whether it did and the key as it is after the call (nil: absent).
func (kv *KV) CompareAndSwap(ctx context.Context, key string, expect Expect, value []byte, opts ...PutOption) (bool, *KeyValue, error) {
	return kv.cas(ctx, &nefelev1.KVServiceCompareAndSwapRequest{Key: key, Value: value, BindToCaller: putOpts(opts).bind}, expect)
}

// CompareAndDelete deletes key if it is as expect says, and returns whether
// it did and the key as it is after the call (nil: absent).
func (kv *KV) CompareAndDelete(ctx context.Context, key string, expect Expect) (bool, *KeyValue, error) {
	return kv.cas(ctx, &nefelev1.KVServiceCompareAndSwapRequest{Key: key, Delete: true}, expect)
}

func (kv *KV) cas(ctx context.Context, req *nefelev1.KVServiceCompareAndSwapRequest, expect Expect) (bool, *KeyValue, error) {
	req.ExpectAbsent, req.ExpectRevision, req.ExpectValue = expect.absent, expect.revision, expect.value
	res, err := kv.c.kv.CompareAndSwap(ctx, connect.NewRequest(req))
	if err != nil {
		return false, nil, kv.c.wrapErr(err)
	}
	return res.Msg.Swapped, res.Msg.Current, nil
}

// List returns the keys under prefix, in key order ("" lists all).
func (kv *KV) List(ctx context.Context, prefix string) ([]*KeyValue, error) {
	res, err := kv.c.kv.List(ctx, connect.NewRequest(&nefelev1.KVServiceListRequest{Prefix: prefix}))
	if err != nil {
		return nil, kv.c.wrapErr(err)
	}
	return res.Msg.Kvs, nil
}

// WatchOptions select what Watch follows.
type WatchOptions struct {
	// Prefix watches every key that starts with the key.
	Prefix bool
	// FromRevision replays the changes since that revision; 0 is from now.
	FromRevision int64
}

// Watch calls fn with each batch of changes of key until ctx is done or fn
// returns an error; it calls fn once with no events as soon as the watch
// is set up, so that a caller knows no later change is missed.
func (kv *KV) Watch(ctx context.Context, key string, opts WatchOptions, fn func([]*KVEvent) error) error {
	stream, err := kv.c.kv.Watch(ctx, connect.NewRequest(&nefelev1.KVServiceWatchRequest{Key: key, Prefix: opts.Prefix, FromRevision: opts.FromRevision}))
	if err != nil {
		return kv.c.wrapErr(err)
	}
	return receive(ctx, kv.c, stream, func(m *nefelev1.KVServiceWatchResponse) error { return fn(m.Events) })
}

// Register gives name to the calling process (see Connect) until it ends,
// however it ends; it fails with an error matching ErrNameInUse while
// another process holds the name.
//
// Register opens the caller's mailbox first (see OpenMailbox): a process
// found by its name can be sent to at once.
func (c *Client) Register(ctx context.Context, name string) (*RegisteredName, error) {
	if c.self != "" {
		if _, err := c.openMailbox(ctx, MailboxOptions{}); err != nil {
			return nil, err
		}
	}
	res, err := c.names.Register(ctx, connect.NewRequest(&nefelev1.RegisterRequest{Name: name}))
	if err != nil {
		return nil, c.wrapErr(err)
	}
	return res.Msg.Name, nil
}

// Unregister releases a name the calling process holds.
func (c *Client) Unregister(ctx context.Context, name string) error {
	_, err := c.names.Unregister(ctx, connect.NewRequest(&nefelev1.UnregisterRequest{Name: name}))
	return c.wrapErr(err)
}

// Lookup returns the process that holds name; a free name is an error
// matching ErrNoName.
func (c *Client) Lookup(ctx context.Context, name string) (*RegisteredName, error) {
	res, err := c.names.Lookup(ctx, connect.NewRequest(&nefelev1.LookupRequest{Name: name}))
	if err != nil {
		return nil, c.wrapErr(err)
	}
	return res.Msg.Name, nil
}

// Names returns the registered names that start with prefix, by name.
func (c *Client) Names(ctx context.Context, prefix string) ([]*RegisteredName, error) {
	res, err := c.names.ListNames(ctx, connect.NewRequest(&nefelev1.ListNamesRequest{Prefix: prefix}))
	if err != nil {
		return nil, c.wrapErr(err)
	}
	return res.Msg.Names, nil
}

// WatchName calls fn with the holder of name as it is now, then at every
// change (gone: the name is free), until ctx is done or fn returns an error.
func (c *Client) WatchName(ctx context.Context, name string, fn func(reg *RegisteredName, gone bool) error) error {
	stream, err := c.names.WatchName(ctx, connect.NewRequest(&nefelev1.WatchNameRequest{Name: name}))
	if err != nil {
		return c.wrapErr(err)
	}
	return receive(ctx, c, stream, func(m *nefelev1.WatchNameResponse) error { return fn(m.Name, m.Gone) })
}
