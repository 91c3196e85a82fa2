package agent

import (
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"time"

	"github.com/nefele/nefele/internal/logfile"
	"github.com/nefele/nefele/internal/model"
)

// Config configures an Agent. The zero value of every field but DataDir has
// a useful default.
type Config struct {
	// DataDir holds the agent's state: etcd data, logs, the lock.
	DataDir string
	// Addr is where the API listens, HOST:PORT (default 127.0.0.1:7070; port 0 picks one).
	// The embedded etcd member listens on the same host.
	Addr string
	// Advertise is the HOST:PORT other nodes and processes reach the API
	// at (default Addr; required when Addr's host is 0.0.0.0 or ::). Its
	// host is also what the embedded etcd member advertises.
	Advertise string
	// EtcdEndpoints, when set, makes the agent a client of an existing
	// etcd cluster instead of embedding a member.
	EtcdEndpoints []string
	// Name is the node name; by default the name kept in the data dir, or the host name.
	Name string
	// Logger receives the agent's logs.
	Logger *slog.Logger
	// Join lists API addresses of agents of a cluster to join; empty starts
	// a new cluster of one. Server asks to join as an etcd member (at most 5
	// vote); otherwise, or when 5 already vote, the agent joins as a worker.
	Join   []string
	Server bool
	// Labels describe the node to the scheduler (zone=eu, disk=ssd).
	Labels map[string]string
	// CPU, Memory and MaxProcs are the node's capacity; zero means what the
	// machine has (CPU, Memory) or no limit (MaxProcs).
	CPU      int
	Memory   int64
	MaxProcs int
	// Backoff is the restart delay schedule (default 1 s doubling to 1 min, reset after 10 min).
	Backoff model.Backoff
	// Logs is the log rotation policy (default 10 MiB x 3).
	Logs logfile.Policy
	// RotateEvery is how often log sizes are checked (default 2 s).
	RotateEvery time.Duration
	// LeaseTTL is the node lease's time to live (default 3 s).
	LeaseTTL time.Duration
	// FenceGrace is how long after its lease expired an agent that cannot
	// reach the store keeps its processes before it stops those the
	// cluster replaces (default 1 s; self-fencing).
	FenceGrace time.Duration
	// Retention is how long the record and logs of an ended process are
	// kept (default 24 h); GCEvery is how often they are looked at (1 min).
	Retention, GCEvery time.Duration
	// ShutdownGrace bounds the shutdown of the API and etcd once the
	// processes have stopped (default 30 s).
	ShutdownGrace time.Duration
	// EtcdTickMs and EtcdElectionMs are raft timings of the embedded member.
	EtcdTickMs, EtcdElectionMs uint
}

// DefaultAddr is where the API listens unless told otherwise.
const DefaultAddr = "127.0.0.1:7070"

// Validate checks c and fills in defaults.
func (c *Config) Validate() error {
	if c.DataDir == "" {
		return model.Invalid("", "missing data dir: use --data-dir DIR")
	}
	if c.Addr == "" {
		c.Addr = DefaultAddr
	}
	host, _, err := net.SplitHostPort(c.Addr)
	if err != nil {
		return model.Invalid(c.Addr, fmt.Sprintf("invalid --addr %q: use HOST:PORT, like 127.0.0.1:7070", c.Addr))
	}
	if c.Advertise == "" {
		if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
			return model.Invalid(c.Addr, fmt.Sprintf("--addr %s listens on every address: say with --advertise HOST:PORT which one other nodes reach", c.Addr))
		}
	} else if ahost, _, err := net.SplitHostPort(c.Advertise); err != nil || ahost == "" || net.ParseIP(ahost) != nil && net.ParseIP(ahost).IsUnspecified() {
		return model.Invalid(c.Advertise, fmt.Sprintf("invalid --advertise %q: use the HOST:PORT other nodes reach this agent at, like 10.0.0.5:7070", c.Advertise))
	}
	for _, e := range c.EtcdEndpoints {
		if u, err := url.Parse(e); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return model.Invalid(e, fmt.Sprintf("invalid --etcd-endpoints URL %q: use http://HOST:PORT or https://HOST:PORT", e))
		}
	}
	if len(c.EtcdEndpoints) > 0 && len(c.Join) > 0 {
		return model.Invalid("", "--etcd-endpoints and --join exclude each other: agents of a cluster on an external etcd find each other through it")
	}
	if c.Name != "" {
		if err := model.ValidateName(c.Name); err != nil {
			return model.Invalid(c.Name, fmt.Sprintf("invalid node name %q: use lower-case letters, digits, '.', '_' or '-'", c.Name))
		}
	}
	if c.CPU < 0 || c.Memory < 0 || c.MaxProcs < 0 {
		return model.Invalid("", "invalid capacity: --cpu, --memory and --max-procs must be 0 (the default) or more")
	}
	if c.CPU == 0 {
		c.CPU = cpuCount()
	}
	if c.Memory == 0 {
		c.Memory = memoryBytes()
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	if c.Backoff == (model.Backoff{}) {
		c.Backoff = model.DefaultBackoff
	}
	if c.Logs.MaxBytes == 0 {
		c.Logs.MaxBytes = logfile.DefaultPolicy.MaxBytes
	}
	if c.Logs.Files == 0 {
		c.Logs.Files = logfile.DefaultPolicy.Files
	}
	if err := c.Logs.Validate(); err != nil {
		return err
	}
	if c.LeaseTTL < 0 || c.LeaseTTL > 0 && (c.LeaseTTL < time.Second || c.LeaseTTL%time.Second != 0) {
		return model.Invalid(c.LeaseTTL.String(), fmt.Sprintf("invalid --lease-ttl %s: use whole seconds, 1s or more (etcd leases count whole seconds)", c.LeaseTTL))
	}
	if c.LeaseTTL == 0 {
		c.LeaseTTL = 3 * time.Second
	}
	if c.FenceGrace < 0 {
		return model.Invalid(c.FenceGrace.String(), fmt.Sprintf("invalid --fence-grace %s: use a duration above 0, like 1s", c.FenceGrace))
	}
	if c.FenceGrace == 0 {
		c.FenceGrace = time.Second
	}
	if c.Retention <= 0 {
		c.Retention = 24 * time.Hour
	}
	if c.GCEvery <= 0 {
		c.GCEvery = time.Minute
	}
	if c.ShutdownGrace <= 0 {
		c.ShutdownGrace = 30 * time.Second
	}
	if c.EtcdTickMs == 0 {
		c.EtcdTickMs, c.EtcdElectionMs = 50, 500
	}
	return nil
}
