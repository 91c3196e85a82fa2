package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/nefele/nefele/internal/model"
)

// readRetry bounds how long a read waits out a store that is electing a
// leader (a member died): about an election timeout, with room.
const readRetry = 5 * time.Second

// transient reports whether err is one a store without a leader for a
// moment gives: a read tried again soon succeeds.
func transient(err error) bool {
	switch {
	case errors.Is(err, rpctypes.ErrLeaderChanged), errors.Is(err, rpctypes.ErrNoLeader),
		errors.Is(err, rpctypes.ErrTimeout), errors.Is(err, rpctypes.ErrTimeoutDueToLeaderFail),
		errors.Is(err, rpctypes.ErrTimeoutDueToConnectionLost):
		return true
	}
	s, ok := status.FromError(err)
	return ok && s.Code() == codes.Unavailable
}

// get is clientv3's Get, tried again while the store has no leader, for at
// most readRetry; a read that still fails then is model.ErrUnavailable.
func (s *Store) get(ctx context.Context, key string, opts ...clientv3.OpOption) (*clientv3.GetResponse, error) {
	deadline := time.Now().Add(readRetry)
	delay := 20 * time.Millisecond
	for {
		res, err := s.c.Get(ctx, key, opts...)
		if err == nil || !transient(err) || ctx.Err() != nil {
			return res, err
		}
		if time.Now().After(deadline) {
			return nil, unavailable(err)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(delay):
		}
		delay = min(2*delay, 500*time.Millisecond)
	}
}

// unavailable wraps a store error as model.ErrUnavailable, with advice.
func unavailable(err error) error {
	return &model.SubjectError{Err: model.ErrUnavailable,
		Msg: fmt.Sprintf("the cluster's store is unavailable (%v): a majority of its members must be up; try again", err)}
}

// writeErr wraps the error of a write with what was written; one that a
// store without a leader gives is model.ErrUnavailable (whether the write
// applied is then unknown: the conditions of our transactions make trying
// again safe).
func writeErr(what string, err error) error {
	if transient(err) {
		return &model.SubjectError{Err: model.ErrUnavailable,
			Msg: fmt.Sprintf("%s: the cluster's store is unavailable (%v): a majority of its members must be up; try again", what, err)}
	}
	return fmt.Errorf("%s: %w", what, err)
}
