package supervisor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/nefele/nefele/internal/isolate"
	"github.com/nefele/nefele/internal/model"
)

type cmdKind int

const (
	cmdStop cmdKind = iota
	cmdRestart
)

// command asks a process's owner goroutine to stop or restart it.
type command struct {
	kind    cmdKind
	timeout time.Duration
	kill    bool // SIGKILL at once, not the stop signal
	reason  string
	reply   chan result
}

type result struct {
	rec model.Process
	err error
}

// proc is one managed process. Its owner goroutine runs a chain of steps
// (start, watch, exited, backoff) until the process ends for good.
type proc struct {
	sup  *Supervisor
	log  *slog.Logger
	cmds chan command
	done chan struct{} // closed when the process has ended for good

	mu  sync.Mutex // guards rec
	rec model.Process

	// Owned by the owner goroutine.
	pidfd    *os.File
	child    bool           // the process is our child (we reap it and know its status)
	cg       *isolate.Group // the process's cgroup, nil when none is set
	attach   *attachment
	feedW    *os.File           // the write end of the stdin pipe of the run starting, until it is fed
	stopFeed context.CancelFunc // ends the feeding of the current run; nil when not fed
}

// step is one phase of a process's life; it returns the next, or nil at the end.
type step func() step

func (p *proc) record() model.Process {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.rec
}

// update changes the record under the lock and persists the transition.
func (p *proc) update(change func(r *model.Process)) model.Process {
	p.mu.Lock()
	from := p.rec.State
	change(&p.rec)
	rec := p.rec
	p.mu.Unlock()
	p.persist(from, rec)
	return rec
}

// persist hands one transition to the recorder.
func (p *proc) persist(from model.State, rec model.Process) {
	ctx, cancel := context.WithTimeout(context.Background(), p.sup.recordTimeout())
	defer cancel()
	if err := p.sup.cfg.Record(ctx, from, rec); errors.Is(err, model.ErrFenced) {
		p.log.Info("transition not recorded: the cluster took the process from this node", "from", from, "to", rec.State)
	} else if err != nil {
		p.log.Error("record transition", "from", from, "to", rec.State, "err", err)
	}
}

// command hands c to the owner goroutine and waits for its result.
func (p *proc) command(ctx context.Context, c command) (model.Process, error) {
	c.reply = make(chan result, 1)
	select {
	case p.cmds <- c:
	case <-p.done:
		return p.record(), nil
	case <-ctx.Done():
		return p.record(), ctx.Err()
	}
	// The owner may end for good without reading c (it sat in the buffer).
	select {
	case r := <-c.reply:
		return r.rec, r.err
	case <-p.done:
		return p.record(), nil
	case <-ctx.Done():
		return p.record(), ctx.Err()
	}
}

func (p *proc) signal(sig syscall.Signal) error {
	rec := p.record()
	if rec.State != model.StateRunning || rec.PID == 0 {
		return fmt.Errorf("signal %s: %w (state %s)", rec.GPID, model.ErrNotRunning, rec.State)
	}
	if err := p.signalTree(rec.PID, sig); err != nil {
		return fmt.Errorf("signal %s: %w", rec.GPID, err)
	}
	return nil
}

// signalTree sends sig to the process group led by pid and, where one is
// set, to everything in the process's cgroup (descendants that left the
// group with setsid included).
func (p *proc) signalTree(pid int, sig syscall.Signal) error {
	err := signalGroup(pid, sig)
	if p.cg != nil {
		if sig == syscall.SIGKILL {
			p.cg.Kill()
		} else {
			p.cg.Signal(sig)
		}
	}
	return err
}

// own runs the life of the process, starting with first, and reports the
// outcome of the first start on started (if not nil).
func (p *proc) own(started chan<- result, first step) {
	defer p.sup.wg.Done()
	defer close(p.done)
	defer p.sup.remove(p.rec.GPID)
	next := first
	if next == nil && p.pidfd != nil {
		next = p.watch(nil)
	}
	if next == nil {
		next = p.start(started, nil)
	}
	for next != nil {
		next = next()
	}
}

// ownGone owns a process found dead at adoption: it is recorded as exited
// with an unknown status and the restart policy applies.
func (p *proc) ownGone(reason string) {
	p.own(nil, p.exited(nil, nil, reason))
}

// ownBackoff owns a process that was backing off when its agent died.
func (p *proc) ownBackoff(delay time.Duration) {
	p.own(nil, p.backoff(max(delay, 0), nil))
}

// start returns the step that starts a run; replies are answered once it runs.
func (p *proc) start(started chan<- result, replies []command) step {
	return func() step {
		rec, err := p.startRun()
		if started != nil {
			started <- result{rec: rec, err: err}
		}
		answer(replies, rec, err)
		if err != nil {
			return nil
		}
		return p.watch(nil)
	}
}

func answer(cmds []command, rec model.Process, err error) {
	for _, c := range cmds {
		c.reply <- result{rec: rec, err: err}
	}
}

// startRun starts the OS process and records starting, then running or
// failed; it returns the record as it was then.
//
// The starting record is written while the process starts, not before, to
// take the store's latency off the spawn path; the next record waits for it,
// so the store sees the transitions in order. An agent that dies in between
// leaves a process whose record says pending or starting: Resume finds it by
// its NEFELE_GPID and adopts it rather than starting it twice.
func (p *proc) startRun() (model.Process, error) {
	p.mu.Lock()
	from := p.rec.State
	p.rec.State, p.rec.Reason, p.rec.PID, p.rec.NextRestartAt = model.StateStarting, "", 0, time.Time{}
	rec := p.rec
	p.mu.Unlock()
	recorded := make(chan struct{})
	go func() {
		defer close(recorded)
		p.persist(from, rec)
	}()
	pid, err := p.spawn(rec)
	<-recorded
	if err != nil {
		rec = p.update(func(r *model.Process) {
			r.State, r.Reason, r.EndedAt = model.StateFailed, err.Error(), time.Now()
			r.Failure = failureWord(err)
		})
		return rec, err
	}
	ticks, _ := startTicks(pid)
	rec = p.update(func(r *model.Process) {
		r.State, r.PID, r.StartTicks, r.BootID = model.StateRunning, pid, ticks, p.sup.bootID
		r.StartedAt, r.Exit = time.Now(), nil
	})
	return rec, nil
}

func failureWord(err error) string {
	switch {
	case errors.Is(err, model.ErrNotFound):
		return "executable_not_found"
	case errors.Is(err, model.ErrNotExecutable):
		return "not_executable"
	}
	return "start_failed"
}

// spawn starts the OS process in its own session and returns its pid; the
// pidfd is kept in p.pidfd.
func (p *proc) spawn(rec model.Process) (int, error) {
	env := p.env(rec)
	name := rec.Spec.Command[0]
	path, err := lookPath(name, rec.Spec.Workdir, env)
	if err != nil {
		return 0, err
	}
	files, closeAfter, err := p.stdio(rec)
	if err != nil {
		return 0, fmt.Errorf("%w: %s: open output: %v", model.ErrStart, rec.GPID, err)
	}
	defer closeFiles(closeAfter)
	defer p.dropFeed() // a run that does not start is not fed
	pidfd := -1
	sys := &syscall.SysProcAttr{Setsid: true, PidFD: &pidfd}
	if cgfd := p.cgroup(rec.GPID); cgfd >= 0 {
		defer syscall.Close(cgfd)
		sys.UseCgroupFD, sys.CgroupFD = true, cgfd
	}
	if p.attach != nil && p.attach.cfg.TTY {
		sys.Setctty, sys.Ctty = true, 0
	}
	if rec.Spec.Workdir != "" {
		if st, err := os.Stat(rec.Spec.Workdir); err != nil || !st.IsDir() {
			return 0, &model.SubjectError{Subject: rec.Spec.Workdir, Err: model.ErrStart,
				Msg: fmt.Sprintf("workdir %s: not a directory that exists on node %s", rec.Spec.Workdir, p.sup.cfg.Node)}
		}
	}
	proc, err := os.StartProcess(path, rec.Spec.Command, &os.ProcAttr{
		Dir: rec.Spec.Workdir, Env: env, Files: files, Sys: sys,
	})
	if err != nil {
		p.attach.closeParent()
		return 0, startError(name, err)
	}
	pid := proc.Pid
	proc.Release()
	if pidfd < 0 {
		return 0, fmt.Errorf("%w: %s: kernel gave no pidfd", model.ErrStart, rec.GPID)
	}
	syscall.SetNonblock(pidfd, true)
	p.pidfd, p.child = os.NewFile(uintptr(pidfd), "pidfd:"+strconv.Itoa(pid)), true
	p.attach.startCopying(p)
	p.startFeed(rec)
	return pid, nil
}

// cgroup makes the process's cgroup, if cgroups are enabled, and returns a
// directory fd to clone the child into (-1 when there is none).
func (p *proc) cgroup(gpid model.GPID) int {
	g, fd, err := p.sup.cfg.Cgroups.Create(string(gpid))
	if err != nil {
		p.log.Warn("no cgroup for process; stop reaches its process group only", "err", err)
		return -1
	}
	p.cg = g
	return fd
}

func (p *proc) env(rec model.Process) []string {
	env := append([]string(nil), p.sup.cfg.Env...)
	env = append(env, "NEFELE_NODE_ID="+p.sup.cfg.NodeID)
	if p.sup.cfg.Extra != nil {
		env = append(env, p.sup.cfg.Extra(rec)...)
	}
	return append(env, rec.Spec.Env...)
}

// stdio returns the child's stdin, stdout and stderr, and the files the
// parent closes once the child has them. A process gets its log files from
// the pool on its first start and keeps them.
func (p *proc) stdio(rec model.Process) (files, closeAfter []*os.File, err error) {
	pair, err := p.logFiles(rec)
	if err != nil {
		return nil, nil, err
	}
	if p.attach != nil {
		return p.attach.open(pair)
	}
	if rec.Spec.StdinFrom == "" || p.sup.cfg.Feed == nil {
		return []*os.File{p.sup.null, pair.out, pair.err}, []*os.File{pair.out, pair.err}, nil
	}
	r, w, err := os.Pipe()
	if err != nil {
		closeFiles([]*os.File{pair.out, pair.err})
		return nil, nil, fmt.Errorf("stdin pipe: %w", err)
	}
	p.feedW = w
	return []*os.File{r, pair.out, pair.err}, []*os.File{r, pair.out, pair.err}, nil
}

// startFeed has Config.Feed write the stdin of the run just started, if it
// has a stdin pipe, until Feed returns or the run ends; then the pipe is
// closed. Closing it when the run ends also frees a Write that blocks on a
// pipe the process's leftovers hold but will never read.
func (p *proc) startFeed(rec model.Process) {
	w := p.feedW
	if w == nil {
		return
	}
	p.feedW = nil
	ctx, cancel := context.WithCancel(p.sup.ctx)
	p.stopFeed = cancel
	context.AfterFunc(ctx, func() { w.Close() })
	p.sup.wg.Go(func() {
		defer w.Close()
		p.sup.cfg.Feed(ctx, rec, w)
	})
}

// dropFeed closes the write end of a stdin pipe that was never fed.
func (p *proc) dropFeed() {
	if p.feedW != nil {
		p.feedW.Close()
		p.feedW = nil
	}
}

// endFeed ends the feeding of the run that ended, if it was fed.
func (p *proc) endFeed() {
	if p.stopFeed != nil {
		p.stopFeed()
		p.stopFeed = nil
	}
}

// logFiles opens the log files of rec, taking a new pair from the pool for
// a process that has none yet and noting its id in the record.
func (p *proc) logFiles(rec model.Process) (logPair, error) {
	if rec.LogID != "" {
		return p.sup.logs.open(rec.LogID)
	}
	pair, err := p.sup.logs.take()
	if err != nil {
		return logPair{}, err
	}
	p.mu.Lock()
	p.rec.LogID = pair.id
	p.mu.Unlock()
	return pair, nil
}

func closeFiles(fs []*os.File) {
	for _, f := range fs {
		f.Close()
	}
}

// watch returns the step that waits for the run to end, carrying out stop
// and restart commands meanwhile.
func (p *proc) watch(pending []command) step {
	return func() step {
		exited := make(chan struct{})
		pidfd := p.pidfd
		go func() {
			waitReadable(pidfd)
			close(exited)
		}()
		pid := p.record().PID
		var kill <-chan time.Time
		for {
			select {
			case <-exited:
				return p.ended(pid, pending)
			case c := <-p.cmds:
				if len(pending) == 0 {
					kill = p.beginStop(pid, c)
				}
				pending = append(pending, c)
			case <-kill:
				p.log.Info("grace over, killing process tree", "pid", pid)
				p.signalTree(pid, syscall.SIGKILL)
			case <-p.sup.ctx.Done():
				pidfd.Close()
				<-exited
				return nil
			}
		}
	}
}

// beginStop sends the stop signal and returns the timer of the grace.
func (p *proc) beginStop(pid int, c command) <-chan time.Time {
	rec := p.record()
	timeout := c.timeout
	if timeout <= 0 {
		timeout = rec.Spec.StopTimeout
	}
	if timeout <= 0 {
		timeout = model.DefaultStopTimeout
	}
	sig, err := model.ParseSignal(rec.Spec.StopSignal)
	if err != nil {
		sig = syscall.SIGTERM
	}
	if c.kill {
		sig = syscall.SIGKILL
	}
	p.mu.Lock()
	p.rec.Stopping = true
	p.mu.Unlock()
	p.signalTree(pid, sig)
	if p.attach != nil {
		p.attach.closeStdin()
	}
	return time.After(timeout)
}

// ended handles the end of a run whose leader pid has exited: what is left of
// its process group is killed (no orphan outlives its process), the leader is
// reaped, and the exit is handed on.
func (p *proc) ended(pid int, pending []command) step {
	// Our child is not reaped yet, so its pid, which is the group id, cannot
	// be reused: the group kill reaches only the leftovers of this process.
	// An adopted process was reaped by init already; its cgroup, where it
	// has one, is the safe way to reach its leftovers.
	if p.child || p.cg == nil {
		signalGroup(pid, syscall.SIGKILL)
	}
	if p.cg != nil {
		if err := p.cg.Remove(); err != nil {
			p.log.Warn("remove cgroup", "err", err)
		}
		p.cg = nil
	}
	var ex *model.ExitStatus
	if p.child {
		e := reap(pid)
		ex = &e
	} else {
		ex = exitFromPidfd(p.pidfd)
	}
	p.pidfd.Close()
	p.pidfd = nil
	p.endFeed()
	p.attach.finish()
	return p.exited(ex, pending, "")
}

func describeExit(ex *model.ExitStatus) string {
	switch {
	case ex == nil:
		return "exit status unknown"
	case ex.Signal != "":
		return "killed by signal " + ex.Signal
	}
	return "exited with code " + strconv.Itoa(ex.Code)
}

// exited records the end of a run and decides what comes next: the end for
// good, a restart in place at once (asked for), or a backoff (policy).
func (p *proc) exited(ex *model.ExitStatus, pending []command, reason string) step {
	return func() step {
		if reason == "" {
			reason = describeExit(ex)
		}
		now := time.Now()
		rec := p.record()
		ran := now.Sub(rec.StartedAt)
		stop, restart := commandKinds(pending)
		final := func(state model.State, why string) step {
			rec := p.update(func(r *model.Process) {
				r.State, r.Reason, r.Exit, r.PID, r.EndedAt, r.Stopping = state, why, ex, 0, now, false
			})
			answer(pending, rec, nil)
			return nil
		}
		switch {
		case stop != nil:
			return final(model.StateExited, stop.reason+" ("+reason+")")
		case restart:
			p.update(func(r *model.Process) {
				r.Exit, r.PID, r.EndedAt, r.Stopping, r.Restarts = ex, 0, now, false, r.Restarts+1
				r.Reason = "restarting (asked for)"
			})
			return p.start(nil, pending)
		case !rec.Spec.Restart.ShouldRestart(ex) || p.attach != nil:
			return final(model.StateExited, reason)
		case rec.Spec.MaxRestarts > 0 && rec.PolicyRestarts >= rec.Spec.MaxRestarts:
			return final(model.StateFailed, fmt.Sprintf("restart policy gave up after %d restarts; last run %s", rec.PolicyRestarts, reason))
		}
		crashes := p.sup.cfg.Backoff.Next(rec.Crashes, ran)
		delay := p.sup.cfg.Backoff.Delay(crashes)
		p.update(func(r *model.Process) {
			r.State, r.Exit, r.PID, r.EndedAt, r.Crashes = model.StateBackoff, ex, 0, now, crashes
			r.NextRestartAt = now.Add(delay)
			r.Reason = fmt.Sprintf("%s; restarting in %s", reason, delay.Round(time.Millisecond))
		})
		return p.backoff(delay, nil)
	}
}

// commandKinds returns the stop command among cmds (stop wins) and whether a
// restart was asked for.
func commandKinds(cmds []command) (*command, bool) {
	restart := false
	for i := range cmds {
		if cmds[i].kind == cmdStop {
			return &cmds[i], false
		}
		restart = true
	}
	return nil, restart
}

// backoff waits out delay before the next start, unless a command comes.
func (p *proc) backoff(delay time.Duration, _ []command) step {
	return func() step {
		t := time.NewTimer(delay)
		defer t.Stop()
		select {
		case <-t.C:
			p.bumpRestarts(true)
			return p.start(nil, nil)
		case c := <-p.cmds:
			if c.kind == cmdRestart {
				p.bumpRestarts(false)
				return p.start(nil, []command{c})
			}
			rec := p.update(func(r *model.Process) {
				r.State, r.NextRestartAt, r.Reason = model.StateExited, time.Time{}, c.reason+" (while backing off)"
			})
			answer([]command{c}, rec, nil)
			return nil
		case <-p.sup.ctx.Done():
			return nil
		}
	}
}

// bumpRestarts counts a restart, made by the policy or asked for.
func (p *proc) bumpRestarts(byPolicy bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rec.Restarts++
	if byPolicy {
		p.rec.PolicyRestarts++
	}
}
