package agent

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/nefele/nefele/internal/logfile"
	"github.com/nefele/nefele/internal/model"
)

// RunConfig configures Run with plain values, as the CLI's flags give them.
type RunConfig struct {
	// DataDir holds the agent's state.
	DataDir string
	// Addr is where the agent listens, HOST:PORT; Advertise where others
	// reach it (see Config).
	Addr, Advertise string
	// EtcdEndpoints makes the agent a client of an external etcd.
	EtcdEndpoints []string
	// LeaseTTL and FenceGrace: see Config.
	LeaseTTL, FenceGrace time.Duration
	// Name is the node name (default: the one kept in the data dir, or the host name).
	Name string
	// Join and Server: see Config.
	Join   []string
	Server bool
	// Labels describe the node to the scheduler.
	Labels map[string]string
	// CPU, Memory and MaxProcs are the node's capacity (zero: the machine's;
	// no limit). Memory is a size like "8Gi" (see model.ParseMemory).
	CPU      int
	Memory   string
	MaxProcs int
	// Logger receives the agent's logs.
	Logger *slog.Logger
	// LogMaxBytes and LogFiles are the rotation policy of process logs
	// (zero: 10 MiB x 3); LogCheckEvery is how often sizes are checked.
	LogMaxBytes   int64
	LogFiles      int
	LogCheckEvery time.Duration
	// Retention is how long ended processes are kept (zero: 24 h);
	// GCEvery how often they are looked at (zero: 1 min).
	Retention, GCEvery time.Duration
}

// Run runs an agent with an embedded etcd member until ctx is done, then
// shuts it down gracefully.
func Run(ctx context.Context, cfg RunConfig) error {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	var memory int64
	if cfg.Memory != "" {
		m, err := model.ParseMemory(cfg.Memory)
		if err != nil {
			return fmt.Errorf("--memory: %w", err)
		}
		memory = m
	}
	a, err := New(Config{DataDir: cfg.DataDir, Addr: cfg.Addr, Advertise: cfg.Advertise,
		EtcdEndpoints: cfg.EtcdEndpoints, LeaseTTL: cfg.LeaseTTL, FenceGrace: cfg.FenceGrace, Name: cfg.Name, Logger: cfg.Logger,
		Labels: cfg.Labels, CPU: cfg.CPU, Memory: memory, MaxProcs: cfg.MaxProcs, Join: cfg.Join, Server: cfg.Server,
		Logs:        logfile.Policy{MaxBytes: cfg.LogMaxBytes, Files: cfg.LogFiles},
		RotateEvery: cfg.LogCheckEvery, Retention: cfg.Retention, GCEvery: cfg.GCEvery})
	if err != nil {
		return err
	}
	if err := a.Start(ctx); err != nil {
		return err
	}
	<-ctx.Done()
	cfg.Logger.Info("shutting down: stopping managed processes")
	return a.Shutdown(context.WithoutCancel(ctx))
}
