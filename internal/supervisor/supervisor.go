package supervisor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/nefele/nefele/internal/isolate"
	"github.com/nefele/nefele/internal/logfile"
	"github.com/nefele/nefele/internal/model"
)

// Recorder persists one transition of a process: from is the state before,
// rec the whole record after. It is called from the process's own goroutine,
// so calls for one process are serialized and in order.
type Recorder func(ctx context.Context, from model.State, rec model.Process) error

// Config configures a Supervisor.
type Config struct {
	// Node is the name of this node, recorded in every process.
	Node string
	// NodeID tells this node's processes from those of other agents on the
	// same host; every process gets it as NEFELE_NODE_ID.
	NodeID string
	// LogDir holds one folder of log files per process.
	LogDir string
	// Logs is the rotation policy of the log files.
	Logs logfile.Policy
	// Env is the base environment of every process (the agent's own when nil).
	Env []string
	// Extra returns the NEFELE_* variables of one process.
	Extra func(rec model.Process) []string
	// Backoff is the restart delay schedule.
	Backoff model.Backoff
	// Record persists transitions; required.
	Record Recorder
	// Logger receives the supervisor's own logs.
	Logger *slog.Logger
	// RotateEvery is how often log files are checked against the policy.
	RotateEvery time.Duration
	// Cgroups, when enabled, holds each process in a cgroup of its own so
	// that signals and stops reach every descendant.
	Cgroups *isolate.Tracker
	// Feed writes the stdin of each run of a process whose spec has
	// StdinFrom. The process gets the read end of a pipe; Feed is called
	// with the write end, in a goroutine of its own, once the run has
	// started, and the pipe is closed (EOF to the process) when Feed
	// returns. ctx is done when the run ends or at Shutdown, and a Write
	// fails once the process reads no more (EPIPE); Feed must return then.
	// Without Feed such a process reads /dev/null, like any other. An
	// adopted process is not fed: its stdin went with the agent that
	// started it.
	Feed func(ctx context.Context, rec model.Process, w io.Writer)
}

// Supervisor runs the processes of one node. Use New, then Shutdown.
type Supervisor struct {
	cfg    Config
	log    *slog.Logger
	bootID string
	ctx    context.Context // lives until Shutdown; the processes' owner goroutines use it
	cancel context.CancelFunc

	mu    sync.Mutex // guards procs and closed
	procs map[model.GPID]*proc
	// closed is set by Shutdown; no process starts after it.
	closed bool
	wg     sync.WaitGroup // owner goroutines, the rotator and the log pool
	logs   *logPool
	null   *os.File // /dev/null, the stdin of every detached process
	// shuttingDown shortens the wait for the store: at shutdown the store
	// may have lost its quorum (the cluster going down with this node).
	shuttingDown atomic.Bool
}

// recordTimeout bounds one write of a transition.
func (s *Supervisor) recordTimeout() time.Duration {
	if s.shuttingDown.Load() {
		return 2 * time.Second
	}
	return 10 * time.Second
}

// New returns a Supervisor that rotates log files until Shutdown.
func New(cfg Config) (*Supervisor, error) {
	if cfg.Record == nil {
		return nil, errors.New("supervisor: Config.Record is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Env == nil {
		cfg.Env = os.Environ()
	}
	if cfg.Backoff == (model.Backoff{}) {
		cfg.Backoff = model.DefaultBackoff
	}
	if cfg.Logs == (logfile.Policy{}) {
		cfg.Logs = logfile.DefaultPolicy
	}
	if cfg.RotateEvery <= 0 {
		cfg.RotateEvery = 2 * time.Second
	}
	if err := os.MkdirAll(cfg.LogDir, 0o750); err != nil {
		return nil, fmt.Errorf("supervisor: log dir: %w", err)
	}
	null, err := os.Open(os.DevNull)
	if err != nil {
		return nil, fmt.Errorf("supervisor: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Supervisor{cfg: cfg, log: cfg.Logger, bootID: bootID(), ctx: ctx, cancel: cancel,
		procs: make(map[model.GPID]*proc), logs: newLogPool(cfg.LogDir), null: null}
	s.wg.Add(2)
	go s.rotateLoop()
	go func() { defer s.wg.Done(); s.logs.fill(ctx) }()
	return s, nil
}

// LogPath returns the log file of one stream ("stdout" or "stderr") of the
// process rec, on this node.
func (s *Supervisor) LogPath(rec model.Process, stream string) string {
	id := rec.LogID
	if id == "" {
		id = string(rec.GPID)
	}
	return s.logs.path(id, stream)
}

// RemoveLogs removes the log files of rec, rotated copies included.
func (s *Supervisor) RemoveLogs(rec model.Process) {
	for _, stream := range []string{"stdout", "stderr"} {
		path := s.LogPath(rec, stream)
		os.Remove(path)
		for k := 1; ; k++ {
			if os.Remove(path+"."+strconv.Itoa(k)) != nil {
				break
			}
		}
	}
}

// CleanLogs removes log files left empty and unused by an agent that was
// killed; recs are the records of every process of this node.
func (s *Supervisor) CleanLogs(recs []model.Process) error {
	inUse := make(map[string]bool, len(recs))
	for _, r := range recs {
		inUse[r.LogID] = true
	}
	return s.logs.clean(inUse)
}

// Start starts a new process for rec (whose state is pending) and returns
// its record once it runs or has failed to start; a start error is also
// returned. Starting a GPID that is already managed returns its record.
func (s *Supervisor) Start(ctx context.Context, rec model.Process) (model.Process, error) {
	p, fresh, err := s.add(rec)
	if err != nil || !fresh {
		return p.record(), err
	}
	started := make(chan result, 1)
	s.wg.Add(1)
	go p.own(started, nil)
	select {
	case r := <-started:
		return r.rec, r.err
	case <-ctx.Done():
		return p.record(), ctx.Err()
	}
}

// Adopt takes over rec, a record of this node that says the process runs,
// after an agent restart. If the process still runs (same pid, same start
// time, same boot) it is watched again; if not, it is recorded as exited with
// an unknown status and the restart policy applies. It reports whether the
// process was found running.
func (s *Supervisor) Adopt(ctx context.Context, rec model.Process) (bool, error) {
	if rec.BootID == s.bootID && rec.PID > 0 {
		if f, err := openPidfd(rec.PID, rec.StartTicks); err == nil {
			p, fresh, err := s.add(rec)
			if err != nil || !fresh {
				f.Close()
				return fresh, err
			}
			p.pidfd, p.child, p.cg = f, false, s.cfg.Cgroups.Open(string(rec.GPID))
			s.wg.Add(1)
			go p.own(nil, nil)
			s.log.Info("adopted", "gpid", rec.GPID, "pid", rec.PID)
			if rec.Spec.StdinFrom != "" {
				s.log.Warn("adopted a process whose stdin was fed by the previous agent: the pipe closed with that agent, so the process read EOF after what it had been given; it is not fed again (its next run is, from the first byte)",
					"gpid", rec.GPID, "stdin_from", rec.Spec.StdinFrom)
			}
			return true, nil
		}
	}
	p, fresh, err := s.add(rec)
	if err != nil || !fresh {
		return false, err
	}
	s.wg.Add(1)
	go p.ownGone("exited while its agent was down; exit status unknown")
	return false, nil
}

// Fence kills the process of rec if it still runs, recording nothing: its
// record says it was lost and replaced elsewhere while this node was away.
// It reports whether there was a process to kill.
func (s *Supervisor) Fence(rec model.Process) bool {
	if rec.BootID != s.bootID || rec.PID <= 0 {
		return false
	}
	f, err := openPidfd(rec.PID, rec.StartTicks)
	if err != nil {
		return false
	}
	defer f.Close()
	signalGroup(rec.PID, syscall.SIGKILL)
	if g := s.cfg.Cgroups.Open(string(rec.GPID)); g != nil {
		g.Remove()
	}
	s.log.Info("fenced a process replaced elsewhere", "gpid", rec.GPID, "pid", rec.PID)
	return true
}

// Resume takes over rec, a record of this node that is pending, starting or
// backing off, after an agent restart, and goes on with its life. A process
// caught pending or starting is looked for first (by the NEFELE_GPID in its
// environment), so that it is adopted rather than started twice.
func (s *Supervisor) Resume(ctx context.Context, rec model.Process) error {
	if rec.State == model.StateStarting || rec.State == model.StatePending {
		if pid, ticks, ok := findByGPID(s.cfg.NodeID, rec.GPID); ok {
			rec.PID, rec.StartTicks, rec.BootID, rec.State = pid, ticks, s.bootID, model.StateRunning
			_, err := s.Adopt(ctx, rec)
			return err
		}
		rec.State = model.StatePending
	}
	p, fresh, err := s.add(rec)
	if err != nil || !fresh {
		return err
	}
	s.wg.Add(1)
	if rec.State == model.StateBackoff {
		go p.ownBackoff(time.Until(rec.NextRestartAt))
		return nil
	}
	go p.own(nil, nil)
	return nil
}

func (s *Supervisor) add(rec model.Process) (*proc, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, false, fmt.Errorf("start %s: %w: agent is shutting down", rec.GPID, model.ErrUnavailable)
	}
	if p, ok := s.procs[rec.GPID]; ok {
		return p, false, nil
	}
	rec.Node = s.cfg.Node
	p := &proc{sup: s, rec: rec, cmds: make(chan command, 4), done: make(chan struct{}), child: true,
		log: s.log.With("gpid", rec.GPID)}
	s.procs[rec.GPID] = p
	return p, true, nil
}

func (s *Supervisor) remove(gpid model.GPID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.procs, gpid)
}

func (s *Supervisor) get(gpid model.GPID) (*proc, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.procs[gpid]
	if !ok {
		return nil, fmt.Errorf("%w: %s is not live on node %s", model.ErrNotRunning, gpid, s.cfg.Node)
	}
	return p, nil
}

// Get returns the live record of a managed process.
func (s *Supervisor) Get(gpid model.GPID) (model.Process, bool) {
	p, err := s.get(gpid)
	if err != nil {
		return model.Process{}, false
	}
	return p.record(), true
}

// List returns the records of every managed process.
func (s *Supervisor) List() []model.Process {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]model.Process, 0, len(s.procs))
	for _, p := range s.procs {
		out = append(out, p.record())
	}
	return out
}

// Signal sends sig to the process tree of gpid. The restart policy still
// applies if the signal ends it.
func (s *Supervisor) Signal(gpid model.GPID, sig string) error {
	sn, err := model.ParseSignal(sig)
	if err != nil {
		return err
	}
	p, err := s.get(gpid)
	if err != nil {
		return err
	}
	return p.signal(sn)
}

// Stop ends gpid gracefully (its stop signal, then SIGKILL after timeout, or
// the spec's grace when timeout is 0), keeps it from restarting, and returns
// its final record.
func (s *Supervisor) Stop(ctx context.Context, gpid model.GPID, timeout time.Duration) (model.Process, error) {
	p, err := s.get(gpid)
	if err != nil {
		return model.Process{}, err
	}
	return p.command(ctx, command{kind: cmdStop, timeout: timeout, reason: "stopped"})
}

// Evict kills gpid's process tree at once and keeps it from restarting,
// without waiting: the cluster gave its place to another copy (fencing).
// Its end is recorded when the store can be reached.
func (s *Supervisor) Evict(gpid model.GPID, reason string) {
	p, err := s.get(gpid)
	if err != nil {
		return
	}
	s.log.Warn("fencing a process the cluster replaces", "gpid", gpid, "why", reason)
	go p.command(s.ctx, command{kind: cmdStop, kill: true, timeout: time.Second, reason: reason})
}

// Restart stops gpid gracefully and starts it again in place, or starts it
// at once when it is backing off. It returns the record of the new run.
func (s *Supervisor) Restart(ctx context.Context, gpid model.GPID) (model.Process, error) {
	p, err := s.get(gpid)
	if err != nil {
		return model.Process{}, err
	}
	return p.command(ctx, command{kind: cmdRestart})
}

// Done returns a channel closed when gpid has ended for good (or at once if
// it is not managed here).
func (s *Supervisor) Done(gpid model.GPID) <-chan struct{} {
	p, err := s.get(gpid)
	if err != nil {
		c := make(chan struct{})
		close(c)
		return c
	}
	return p.done
}

// Shutdown stops every process gracefully, in parallel, records their final
// states, and waits for all of it or for ctx. No process starts afterwards.
func (s *Supervisor) Shutdown(ctx context.Context) error {
	s.shuttingDown.Store(true)
	s.mu.Lock()
	s.closed = true
	procs := make([]*proc, 0, len(s.procs))
	for _, p := range s.procs {
		procs = append(procs, p)
	}
	s.mu.Unlock()
	var wg sync.WaitGroup
	for _, p := range procs {
		wg.Go(func() {
			if _, err := p.command(ctx, command{kind: cmdStop, reason: model.ShutdownReason}); err != nil {
				s.log.Warn("stop at shutdown", "gpid", p.rec.GPID, "err", err)
			}
		})
	}
	wg.Wait()
	s.cancel()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		s.null.Close()
		return s.cfg.Cgroups.Close()
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *Supervisor) rotateLoop() {
	defer s.wg.Done()
	t := time.NewTicker(s.cfg.RotateEvery)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
		}
		for _, rec := range s.List() {
			for _, stream := range []string{"stdout", "stderr"} {
				if _, err := logfile.Rotate(s.LogPath(rec, stream), s.cfg.Logs); err != nil {
					s.log.Warn("rotate log", "gpid", rec.GPID, "stream", stream, "err", err)
				}
			}
		}
	}
}
