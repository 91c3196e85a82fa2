package agent

import (
	"context"
	"log/slog"
	"os"
)

// DevConfig configures RunDev.
type DevConfig struct {
	// DataDir holds the agent's state.
	DataDir string
	// Addr is where the agent listens, HOST:PORT.
	Addr string
	// Logger receives the agent's logs.
	Logger *slog.Logger
}

// RunDev runs a single-node agent with an embedded etcd member until ctx is
// done, then shuts it down gracefully.
func RunDev(ctx context.Context, cfg DevConfig) error {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	a, err := New(Config{DataDir: cfg.DataDir, Addr: cfg.Addr, Logger: cfg.Logger})
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
