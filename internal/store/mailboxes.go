package store

import (
	"context"
	"encoding/json"
	"fmt"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/nefele/nefele/internal/model"
)

func (s *Store) mailboxKey(gpid model.GPID) string {
	return s.userPrefix() + "mailboxes/" + string(gpid)
}

// PutMailbox publishes the mailbox of a process, bound to lease: it goes
// when the process's run ends.
func (s *Store) PutMailbox(ctx context.Context, mb model.MailboxEndpoint, lease clientv3.LeaseID) error {
	key := s.mailboxKey(mb.GPID)
	if _, err := s.c.Put(ctx, key, encode(mb), clientv3.WithLease(lease)); err != nil {
		return writeErr("publish "+key, err)
	}
	return nil
}

// Mailbox returns the published mailbox of gpid; ok is false when it has
// none.
func (s *Store) Mailbox(ctx context.Context, gpid model.GPID) (mb model.MailboxEndpoint, ok bool, err error) {
	res, err := s.get(ctx, s.mailboxKey(gpid))
	if err != nil || len(res.Kvs) == 0 {
		return mb, false, err
	}
	if err := json.Unmarshal(res.Kvs[0].Value, &mb); err != nil {
		return mb, false, fmt.Errorf("decode the mailbox of %s: %w", gpid, err)
	}
	mb.GPID = gpid
	return mb, true, nil
}

// UntilMailbox calls check now and at every change of the mailbox of gpid
// until check says done, ctx ends or check fails.
func (s *Store) UntilMailbox(ctx context.Context, gpid model.GPID, check func() (bool, error)) error {
	return s.Until(ctx, s.mailboxKey(gpid), check)
}
