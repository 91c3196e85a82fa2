package store

import (
	"context"
	"encoding/json"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/nefele/nefele/internal/model"
)

func (s *Store) portPrefix() string { return s.userPrefix() + "ports/" }

// PutEndpoint publishes e, bound to lease: it goes when the process ends.
func (s *Store) PutEndpoint(ctx context.Context, e model.Endpoint, lease clientv3.LeaseID) error {
	key := s.portPrefix() + e.Service + "/" + e.Port + "/" + string(e.GPID)
	if _, err := s.c.Put(ctx, key, encode(e), clientv3.WithLease(lease)); err != nil {
		return writeErr("publish "+key, err)
	}
	return nil
}

// Endpoints returns the live endpoints of service ("" for all), by
// service, port and GPID.
func (s *Store) Endpoints(ctx context.Context, service string) ([]model.Endpoint, error) {
	prefix := s.portPrefix()
	if service != "" {
		prefix += service + "/"
	}
	res, err := s.get(ctx, prefix, clientv3.WithPrefix())
	if err != nil {
		return nil, err
	}
	out := make([]model.Endpoint, 0, len(res.Kvs))
	for _, kv := range res.Kvs {
		parts := strings.Split(strings.TrimPrefix(string(kv.Key), s.portPrefix()), "/")
		if len(parts) != 3 {
			continue
		}
		var e model.Endpoint
		json.Unmarshal(kv.Value, &e)
		e.Service, e.Port, e.GPID = parts[0], parts[1], model.GPID(parts[2])
		out = append(out, e)
	}
	return out, nil
}

// WatchEndpoints calls fn with the live endpoints of service now, then
// again at every change, until ctx ends or fn fails.
func (s *Store) WatchEndpoints(ctx context.Context, service string, fn func([]model.Endpoint) error) error {
	prefix := s.portPrefix() + service + "/"
	return s.Until(ctx, prefix, func() (bool, error) {
		eps, err := s.Endpoints(ctx, service)
		if err != nil {
			return false, err
		}
		return false, fn(eps)
	})
}
