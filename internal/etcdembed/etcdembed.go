// Package etcdembed starts, readies and stops the etcd member that an agent
// embeds (go.etcd.io/etcd/server/v3/embed). Only internal/agent imports it.
package etcdembed

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.etcd.io/etcd/server/v3/etcdserver/api/v3client"
)

// Config configures an embedded member.
type Config struct {
	// Dir holds the member's data (WAL and snapshots).
	Dir string
	// Name is the member's name (the node name).
	Name string
	// ClientURL and PeerURL are where it listens (default
	// http://127.0.0.1:0); port 0 picks a free port.
	ClientURL, PeerURL string
	// AdvertiseHost, when set, is the host the member tells others to
	// reach it at, on the ports it listens on (needed when it listens on
	// 0.0.0.0).
	AdvertiseHost string
	// TickMs and ElectionMs are raft timings; zero keeps etcd's defaults.
	TickMs, ElectionMs uint
	// LogLevel is the level of etcd's own log, written to Dir/etcd.log.
	LogLevel string
	// InitialCluster and Join start a member that joins an existing cluster
	// (after it was added, as a learner, by a member of that cluster).
	InitialCluster string
	Join           bool
}

// Member is a running embedded etcd member.
type Member struct {
	etcd           *embed.Etcd
	client         *clientv3.Client
	peerURL        string // where it listens for peers
	advertisedPeer string
}

// Start starts a single-member cluster in cfg.Dir (or restarts the one that
// is there) and returns once it serves, or fails when ctx ends first.
func Start(ctx context.Context, cfg Config) (*Member, error) {
	ec := embed.NewConfig()
	ec.Dir = cfg.Dir
	ec.Name = cfg.Name
	ec.LogLevel = cfg.LogLevel
	if ec.LogLevel == "" {
		ec.LogLevel = "warn"
	}
	ec.LogOutputs = []string{filepath.Join(filepath.Dir(cfg.Dir), "etcd.log")}
	client, peer, err := urls(cfg)
	if err != nil {
		return nil, err
	}
	aclient, apeer := advertised(client, cfg.AdvertiseHost), advertised(peer, cfg.AdvertiseHost)
	ec.ListenClientUrls, ec.AdvertiseClientUrls = []url.URL{client}, []url.URL{aclient}
	ec.ListenPeerUrls, ec.AdvertisePeerUrls = []url.URL{peer}, []url.URL{apeer}
	ec.InitialCluster = cfg.Name + "=" + apeer.String()
	if cfg.InitialCluster != "" {
		ec.InitialCluster = cfg.InitialCluster
	}
	if cfg.Join {
		ec.ClusterState = embed.ClusterStateFlagExisting
	}
	// Keep an hour of history (watches from an older revision fail), so
	// that the store does not grow without bound.
	ec.AutoCompactionMode, ec.AutoCompactionRetention = "periodic", "1h"
	if cfg.TickMs > 0 {
		ec.TickMs, ec.ElectionMs = cfg.TickMs, cfg.ElectionMs
	}
	e, err := embed.StartEtcd(ec)
	if err != nil {
		return nil, fmt.Errorf("start embedded etcd in %s: %w", cfg.Dir, err)
	}
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		e.Close()
		return nil, fmt.Errorf("embedded etcd: %w", err)
	case <-ctx.Done():
		e.Close()
		return nil, fmt.Errorf("embedded etcd not ready: %w", ctx.Err())
	}
	return &Member{etcd: e, client: v3client.New(e.Server), peerURL: peer.String(), advertisedPeer: apeer.String()}, nil
}

// advertised returns u with its host replaced by host, when host is set.
func advertised(u url.URL, host string) url.URL {
	if host == "" {
		return u
	}
	_, port, _ := net.SplitHostPort(u.Host)
	u.Host = net.JoinHostPort(host, port)
	return u
}

// AdvertisedURL returns the URL others reach a member listening at listen
// at, when it advertises host (listen itself when host is "").
func AdvertisedURL(listen, host string) (string, error) {
	u, err := url.Parse(listen)
	if err != nil {
		return "", fmt.Errorf("etcd url %q: %w", listen, err)
	}
	a := advertised(*u, host)
	return a.String(), nil
}

func urls(cfg Config) (client, peer url.URL, err error) {
	c, err := concreteURL(orDefault(cfg.ClientURL, "http://127.0.0.1:0"))
	if err != nil {
		return client, peer, fmt.Errorf("etcd client url %q: %w", cfg.ClientURL, err)
	}
	p, err := concreteURL(orDefault(cfg.PeerURL, "http://127.0.0.1:0"))
	if err != nil {
		return client, peer, fmt.Errorf("etcd peer url %q: %w", cfg.PeerURL, err)
	}
	return *c, *p, nil
}

// concreteURL parses s and, when its port is 0, picks a free port: other
// members and clients must be told a real address.
func concreteURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, err
	}
	host, port, err := net.SplitHostPort(u.Host)
	if err != nil {
		return nil, err
	}
	if port == "0" {
		l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
		if err != nil {
			return nil, err
		}
		u.Host = l.Addr().String()
		l.Close()
	}
	return u, nil
}

// PeerURL returns the URL the member listens for peers at.
func (m *Member) PeerURL() string { return m.peerURL }

// AdvertisedPeerURL returns the URL the member's peers reach it at.
func (m *Member) AdvertisedPeerURL() string { return m.advertisedPeer }

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// Client returns an in-process client of the member (no network hop).
func (m *Member) Client() *clientv3.Client { return m.client }

// ClientURLs returns the URLs where the member serves etcd clients.
func (m *Member) ClientURLs() []string {
	var out []string
	for _, l := range m.etcd.Clients {
		out = append(out, "http://"+l.Addr().String())
	}
	return out
}

// Err returns a channel that receives the member's fatal error, if any.
func (m *Member) Err() <-chan error { return m.etcd.Err() }

// Close stops the member: it closes the in-process client, then the server
// (which stops accepting, finishes in-flight requests and syncs its WAL).
func (m *Member) Close() {
	m.client.Close()
	done := make(chan struct{})
	go func() { m.etcd.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
	}
}

// PickURL returns an http URL on host with a free port, for a member's peer
// or client address that others must be told before it starts.
func PickURL(host string) (string, error) {
	u, err := concreteURL("http://" + net.JoinHostPort(host, "0"))
	if err != nil {
		return "", err
	}
	return u.String(), nil
}

// HasData reports whether dir holds a member's data already (a restart, not
// a first start).
func HasData(dir string) bool {
	st, err := os.Stat(filepath.Join(dir, "member"))
	return err == nil && st.IsDir()
}
