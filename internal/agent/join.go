package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	nefelev1 "github.com/nefele/nefele/api/nefele/v1"
	"github.com/nefele/nefele/internal/apiserver"
	"github.com/nefele/nefele/internal/etcdembed"
	"github.com/nefele/nefele/internal/model"
	nefele "github.com/nefele/nefele/sdk"
)

// maxVoters is the most etcd voting members a cluster gets; later servers
// join as workers.
const maxVoters = 5

// connectStore returns the agent's etcd client: of its embedded member (a
// new cluster, a restart of a member, or a server that joins), or of the
// cluster's members (a worker).
func (a *Agent) connectStore(ctx context.Context, name string) (*clientv3.Client, error) {
	dir := filepath.Join(a.cfg.DataDir, "etcd")
	listen, advertise := a.hosts()
	member := func(cluster string, join bool, peer string) (*clientv3.Client, error) {
		if peer == "" {
			peer = "http://" + net.JoinHostPort(listen, "0")
		}
		// The client URL, once picked, is kept across restarts: workers
		// saved it as an endpoint.
		client := a.urlFromFile("client-url")
		if client == "" {
			client = "http://" + net.JoinHostPort(listen, "0")
		}
		m, err := etcdembed.Start(ctx, etcdembed.Config{Dir: dir, Name: name, PeerURL: peer,
			ClientURL: client, AdvertiseHost: advertise,
			InitialCluster: cluster, Join: join, TickMs: a.cfg.EtcdTickMs, ElectionMs: a.cfg.EtcdElectionMs})
		if err != nil {
			return nil, err
		}
		a.etcd = m
		os.WriteFile(filepath.Join(a.cfg.DataDir, "peer-url"), []byte(m.PeerURL()+"\n"), 0o640)
		if urls := m.ClientURLs(); len(urls) > 0 {
			os.WriteFile(filepath.Join(a.cfg.DataDir, "client-url"), []byte(urls[0]+"\n"), 0o640)
		}
		// Where etcdctl reaches the member (backups, see docs/operations.md).
		var urls []string
		for _, u := range m.ClientURLs() {
			if au, err := etcdembed.AdvertisedURL(u, advertise); err == nil {
				urls = append(urls, au)
			}
		}
		os.WriteFile(filepath.Join(a.cfg.DataDir, "etcd-client-urls"), []byte(strings.Join(urls, ",")+"\n"), 0o640)
		return m.Client(), nil
	}
	_, werr := os.Stat(a.workerFile())
	switch {
	case len(a.cfg.EtcdEndpoints) > 0: // a client of an external etcd
		return a.connectWorker(ctx, a.cfg.EtcdEndpoints)
	case etcdembed.HasData(dir): // a member restarts: it knows its cluster
		return member("", false, a.urlFromFile("peer-url"))
	case werr == nil: // a worker restarts
		return a.connectWorker(ctx, nil)
	case len(a.cfg.Join) == 0: // a new cluster of one
		return member("", false, "")
	}
	peer, err := etcdembed.PickURL(listen)
	if err != nil {
		return nil, err
	}
	apeer, err := etcdembed.AdvertisedURL(peer, advertise)
	if err != nil {
		return nil, err
	}
	res, err := a.askToJoin(ctx, name, apeer)
	if err != nil {
		return nil, err
	}
	if !res.Server {
		if a.cfg.Server {
			a.log.Info("joining as a worker, not as an etcd member", "reason", res.Reason)
		}
		return a.connectWorker(ctx, res.ClientUrls)
	}
	c, err := member(res.InitialCluster, true, peer)
	if err != nil {
		return nil, err
	}
	if err := promote(ctx, res.ClientUrls, res.MemberId); err != nil {
		return nil, fmt.Errorf("join as server: %w", err)
	}
	a.log.Info("joined the cluster as an etcd member", "member", fmt.Sprintf("%x", res.MemberId))
	return c, nil
}

// hosts returns the host the embedded etcd member listens on (that of
// --addr) and the one it advertises (that of --advertise, or "" for the
// same).
func (a *Agent) hosts() (listen, advertise string) {
	listen, _, _ = net.SplitHostPort(a.cfg.Addr)
	if a.cfg.Advertise != "" {
		advertise, _, _ = net.SplitHostPort(a.cfg.Advertise)
	}
	return listen, advertise
}

func (a *Agent) workerFile() string { return filepath.Join(a.cfg.DataDir, "etcd-endpoints") }

// urlFromFile returns the URL kept in the data dir file name, or "".
func (a *Agent) urlFromFile(name string) string {
	b, err := os.ReadFile(filepath.Join(a.cfg.DataDir, name))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// connectWorker connects to the cluster's members as a client; endpoints
// come from a join, or from the data dir on a restart.
func (a *Agent) connectWorker(ctx context.Context, endpoints []string) (*clientv3.Client, error) {
	if endpoints == nil {
		b, err := os.ReadFile(a.workerFile())
		if err != nil {
			return nil, fmt.Errorf("worker: %w", err)
		}
		endpoints = strings.Fields(string(b))
	} else if err := os.WriteFile(a.workerFile(), []byte(strings.Join(endpoints, "\n")+"\n"), 0o640); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	// AutoSync follows members that join or leave after this worker did.
	c, err := clientv3.New(clientv3.Config{Endpoints: endpoints, DialTimeout: 5 * time.Second, Context: a.ctx,
		AutoSyncInterval: time.Minute})
	if err != nil {
		return nil, fmt.Errorf("connect to etcd %v: %w", endpoints, err)
	}
	a.remote = c
	return c, nil
}

// askToJoin asks the agents of cfg.Join, in turn, to let this node in.
func (a *Agent) askToJoin(ctx context.Context, name, peer string) (*nefelev1.JoinResponse, error) {
	var errs []error
	for _, addr := range a.cfg.Join {
		c, err := nefele.Dial(addr)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		res, err := c.Join(ctx, name, peer, a.cfg.Server)
		c.Close()
		if err == nil {
			return res, nil
		}
		errs = append(errs, fmt.Errorf("join through %s: %w", addr, err))
	}
	return nil, errors.Join(errs...)
}

// promote makes the learner id a voting member once it has caught up.
func promote(ctx context.Context, endpoints []string, id uint64) error {
	c, err := clientv3.New(clientv3.Config{Endpoints: endpoints, DialTimeout: 5 * time.Second, Context: ctx})
	if err != nil {
		return err
	}
	defer c.Close()
	deadline := time.Now().Add(60 * time.Second)
	for {
		_, err := c.MemberPromote(ctx, id)
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("promote member %x: %w", id, err)
		}
		select {
		case <-time.After(100 * time.Millisecond):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Join implements apiserver.Backend: it lets a new node into the cluster,
// as an etcd learner when it asks to be a server and fewer than maxVoters
// vote, or as a worker.
func (a *Agent) Join(ctx context.Context, name, peerURL string, server bool) (apiserver.JoinResult, error) {
	if err := model.ValidateName(name); err != nil {
		return apiserver.JoinResult{}, err
	}
	external, err := a.store.External(ctx)
	if err != nil {
		return apiserver.JoinResult{}, fmt.Errorf("join %s: %w", name, err)
	}
	if external {
		return apiserver.JoinResult{ClientURLs: a.store.Client().Endpoints(),
			Reason: "the cluster keeps its state in an external etcd"}, nil
	}
	c := a.store.Client()
	list, err := c.MemberList(ctx)
	if err != nil {
		return apiserver.JoinResult{}, fmt.Errorf("join %s: %w", name, err)
	}
	var res apiserver.JoinResult
	voters := 0
	for _, m := range list.Members {
		res.ClientURLs = append(res.ClientURLs, m.ClientURLs...)
		if !m.IsLearner {
			voters++
		}
		if m.Name == name {
			return res, model.Invalid(name, fmt.Sprintf("node %s is a member already: give the new node another --name", name))
		}
	}
	if !server {
		return res, nil
	}
	if voters >= maxVoters {
		res.Reason = fmt.Sprintf("the cluster has %d voting members already, the most it takes", voters)
		return res, nil
	}
	added, err := addLearner(ctx, c, peerURL)
	if err != nil {
		return apiserver.JoinResult{}, fmt.Errorf("add %s as etcd member: %w", name, err)
	}
	var cluster []string
	for _, m := range added.Members {
		n := m.Name
		if m.ID == added.Member.ID {
			n = name
		}
		for _, u := range m.PeerURLs {
			cluster = append(cluster, n+"="+u)
		}
	}
	res.Server, res.InitialCluster, res.MemberID = true, strings.Join(cluster, ","), added.Member.ID
	return res, nil
}

// addLearner adds peerURL as a learner, waiting while etcd refuses because a
// member that joined just before is not yet connected long enough.
func addLearner(ctx context.Context, c *clientv3.Client, peerURL string) (*clientv3.MemberAddResponse, error) {
	deadline := time.Now().Add(30 * time.Second)
	for {
		added, err := c.MemberAddAsLearner(ctx, []string{peerURL})
		if err == nil || !errors.Is(err, rpctypes.ErrUnhealthy) || time.Now().After(deadline) {
			return added, err
		}
		select {
		case <-time.After(200 * time.Millisecond):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}
