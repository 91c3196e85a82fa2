package agent

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/nefele/nefele/internal/apiserver"
	"github.com/nefele/nefele/internal/model"
	"github.com/nefele/nefele/internal/sched"
	nefele "github.com/nefele/nefele/sdk"
)

// gpidBlock is how many GPIDs an agent reserves at a time: one store
// transaction per block, and a restarted agent goes on at the next round
// hundred (p101, p201, …).
const gpidBlock = 100

// nextGPIDs returns n fresh GPIDs, reserving a block in the store when the
// agent's own block runs out. Unused numbers of a block are never reused.
func (a *Agent) nextGPIDs(ctx context.Context, n int) ([]model.GPID, error) {
	a.gpidMu.Lock()
	defer a.gpidMu.Unlock()
	out := make([]model.GPID, 0, n)
	for len(out) < n {
		if a.gpidNext >= a.gpidEnd {
			size := uint64(max(gpidBlock, n))
			first, err := a.store.ReserveGPIDs(ctx, size)
			if err != nil {
				return nil, err
			}
			a.gpidNext, a.gpidEnd = first, first+size
		}
		out = append(out, model.FormatGPID(a.gpidNext))
		a.gpidNext++
	}
	return out, nil
}

// Spawn implements apiserver.Backend: it places the new processes over the
// cluster view, records them, starts those placed here and waits for the
// agents of the other nodes to start theirs.
func (a *Agent) Spawn(ctx context.Context, name string, replicas int, spec model.Spec) ([]model.Process, error) {
	if name != "" {
		if err := model.ValidateName(name); err != nil {
			return nil, err
		}
	}
	group := replicas > 0
	if err := spec.Validate(group); err != nil {
		return nil, err
	}
	if spec.StdinFrom != "" {
		// Resolved once: restarts and replacements read the same writer.
		src, err := a.stdinSource(ctx, spec.StdinFrom)
		if err != nil {
			return nil, err
		}
		spec.StdinFrom = string(src)
	}
	n := max(replicas, 1)
	picks, err := a.place(spec, name, n)
	if err != nil {
		return nil, err
	}
	procs, err := a.newRecords(ctx, name, n, spec, group)
	if err != nil {
		return nil, err
	}
	var here []model.GPID
	for i := range procs {
		if procs[i].Node = picks[i]; picks[i] == a.node.Name {
			here = append(here, procs[i].GPID)
		}
	}
	if err := a.reserve(spec.Resources, here...); err != nil {
		return nil, err
	}
	defer a.release(here...)
	if err := a.store.Create(ctx, name, replicas, procs); err != nil {
		return nil, err
	}
	return a.startPlaced(ctx, procs)
}

// startPlaced starts the new processes placed on this node and waits for
// the agents of the other nodes to start theirs (they watch their
// assignments), and returns the records as they then are. A node whose
// agent refuses a process for want of capacity (the view was behind) is
// passed over: the process moves to the next node that fits.
func (a *Agent) startPlaced(ctx context.Context, procs []model.Process) ([]model.Process, error) {
	errs := make([]error, len(procs))
	var wg sync.WaitGroup
	for i, p := range procs {
		wg.Go(func() { procs[i], errs[i] = a.startOne(ctx, p) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return procs, err
		}
	}
	return procs, nil
}

// startOne starts p, which the caller reserved room for when it is placed
// here, or waits for the agent of its node to start it; on a refusal it
// places p again, reserving room when that is here.
func (a *Agent) startOne(ctx context.Context, p model.Process) (model.Process, error) {
	refused := map[string]string{}
	for again := false; ; again = true {
		rec := p
		if p.Node == a.node.Name {
			if !again {
				return a.sup.Start(ctx, p)
			}
			if err := a.reserve(p.Spec.Resources, p.GPID); err == nil {
				defer a.release(p.GPID)
				return a.sup.Start(ctx, p)
			} else {
				rec.State, rec.Reason, rec.Failure, rec.EndedAt = model.StateFailed, err.Error(), "no_capacity", time.Now()
				if err := a.store.Put(ctx, model.StatePending, rec); err != nil {
					return rec, err
				}
			}
		} else {
			var err error
			rec, err = a.store.WaitStarted(ctx, p.GPID, 30*time.Second)
			if err != nil || rec.State != model.StateFailed {
				return rec, err
			}
			if rec.Failure != "no_capacity" {
				return rec, remoteStartErr(rec)
			}
		}
		refused[rec.Node] = strings.TrimPrefix(rec.Reason, "node "+rec.Node+": ") + " (its agent refused)"
		next, err := a.placeAgain(rec, refused)
		if err != nil {
			return rec, err
		}
		a.log.Info("placing a refused process again", "gpid", rec.GPID, "refused_by", rec.Node, "node", next)
		p = rec
		p.Node, p.State, p.Failure, p.Reason, p.EndedAt = next, model.StatePending, "", "placed again: "+rec.Reason, time.Time{}
		if err := a.store.Put(ctx, model.StateFailed, p); err != nil {
			return rec, err
		}
	}
}

// placeAgain places p once more, over nodes that did not refuse it.
func (a *Agent) placeAgain(p model.Process, refused map[string]string) (string, error) {
	views := a.nodeViews()
	for i := range views {
		views[i].Refused = refused[views[i].Name]
	}
	req := sched.Request{Resources: p.Spec.Resources, Constraints: p.Spec.Constraints, Node: p.Spec.Node, Spread: a.spread(p.Group)}
	cands, err := sched.Place(req, views)
	if err != nil {
		return "", err
	}
	return cands[0].Node, nil
}

// remoteStartErr rebuilds the start error of a process another node failed
// to start, from its record.
func remoteStartErr(p model.Process) error {
	kind := model.ErrStart
	switch p.Failure {
	case "executable_not_found":
		kind = model.ErrNotFound
	case "not_executable":
		kind = model.ErrNotExecutable
	case "no_capacity":
		kind = model.ErrNoCapacity
	}
	return &model.SubjectError{Subject: string(p.GPID), Err: kind, Msg: p.Reason}
}

func count(nodes []string, node string) int {
	n := 0
	for _, x := range nodes {
		if x == node {
			n++
		}
	}
	return n
}

// reserve admits the processes gpids, each asking r, if this node has room
// for them besides what its live processes and earlier reservations hold,
// and holds their room until release. Admission is serialized, so that
// concurrent requests cannot oversell the node.
func (a *Agent) reserve(r model.Resources, gpids ...model.GPID) error {
	if len(gpids) == 0 {
		return nil
	}
	a.admitMu.Lock()
	defer a.admitMu.Unlock()
	if err := a.admit(r, len(gpids)); err != nil {
		return err
	}
	a.reservedMu.Lock()
	for _, g := range gpids {
		a.reserved[g] = r
	}
	a.reservedMu.Unlock()
	return nil
}

// release ends the reservations of gpids: they are live processes of the
// supervisor by now, or failed.
func (a *Agent) release(gpids ...model.GPID) {
	a.reservedMu.Lock()
	defer a.reservedMu.Unlock()
	for _, g := range gpids {
		delete(a.reserved, g)
	}
}

// admit checks that this node has room, by what its live processes and
// reservations hold, for n more processes that each ask r.
func (a *Agent) admit(r model.Resources, n int) error {
	capa, used := capacityOf(a.node), a.allocated()
	switch {
	case capa.MaxProcs > 0 && used.MaxProcs+n > capa.MaxProcs:
		return a.refuse(fmt.Sprintf("process slots full (%d of %d used, %d asked)", used.MaxProcs, capa.MaxProcs, n))
	case r.CPUMilli > 0 && capa.CPUMilli > 0 && used.CPUMilli+int64(n)*r.CPUMilli > capa.CPUMilli:
		return a.refuse(fmt.Sprintf("cpu %s free, %s asked", model.FormatCPU(capa.CPUMilli-used.CPUMilli), model.FormatCPU(int64(n)*r.CPUMilli)))
	case r.MemoryBytes > 0 && capa.MemoryBytes > 0 && used.MemoryBytes+int64(n)*r.MemoryBytes > capa.MemoryBytes:
		return a.refuse(fmt.Sprintf("memory %s free, %s asked", model.FormatMemory(capa.MemoryBytes-used.MemoryBytes), model.FormatMemory(int64(n)*r.MemoryBytes)))
	}
	return nil
}

func (a *Agent) refuse(why string) error {
	return &model.SubjectError{Subject: a.node.Name, Err: model.ErrNoCapacity, Msg: "node " + a.node.Name + ": " + why}
}

func (a *Agent) newRecords(ctx context.Context, name string, n int, spec model.Spec, group bool) ([]model.Process, error) {
	gpids, err := a.nextGPIDs(ctx, n)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	procs := make([]model.Process, n)
	for i, g := range gpids {
		procs[i] = model.Process{GPID: g, Name: name, Node: a.node.Name, Origin: a.node.Name, Spec: spec,
			State: model.StatePending, CreatedAt: now}
		if group {
			procs[i].Group, procs[i].Replica = name, i
		}
	}
	return procs, nil
}

// List implements apiserver.Backend.
func (a *Agent) List(ctx context.Context, all bool) ([]model.Process, error) {
	return a.store.List(ctx, all)
}

// Resolve implements apiserver.Backend: a GPID, a process or group name,
// or else a name a process registered (NameService).
func (a *Agent) Resolve(ctx context.Context, target string) ([]model.Process, error) {
	if target == "" {
		return nil, model.Invalid("", "missing target: give a GPID or a name")
	}
	procs, err := a.store.Resolve(ctx, target)
	if errors.Is(err, model.ErrNoProcess) && !model.IsGPID(target) && model.ValidateName(target) == nil {
		if reg, lerr := a.store.Lookup(ctx, target); lerr == nil {
			if p, _, gerr := a.store.Get(ctx, reg.GPID); gerr == nil {
				return []model.Process{p}, nil
			}
		}
	}
	return procs, err
}

// forEach resolves target and runs fn on each of its processes in parallel,
// returning the records fn gives back, in order, and the first error.
func (a *Agent) forEach(ctx context.Context, target string, fn func(model.Process) (model.Process, error)) ([]model.Process, error) {
	procs, err := a.Resolve(ctx, target)
	if err != nil {
		return nil, err
	}
	errs := make([]error, len(procs))
	var wg sync.WaitGroup
	for i, p := range procs {
		wg.Go(func() { procs[i], errs[i] = fn(p) })
	}
	wg.Wait()
	return procs, errors.Join(errs...)
}

func notLive(p model.Process) error {
	return &model.SubjectError{Subject: string(p.GPID), Err: model.ErrNotRunning,
		Msg: fmt.Sprintf("%s is not running (state %s)", p.GPID, p.State)}
}

// Signal implements apiserver.Backend.
func (a *Agent) Signal(ctx context.Context, target, sig string) ([]model.Process, error) {
	if _, err := model.ParseSignal(sig); err != nil {
		return nil, err
	}
	return a.forEach(ctx, target, func(p model.Process) (model.Process, error) {
		if p.State.Ended() {
			return p, notLive(p)
		}
		if rec, remote, err := a.onNode(ctx, p, func(c *nefele.Client, g string) error {
			_, err := c.Signal(ctx, g, sig)
			return err
		}); remote {
			return rec, err
		}
		if err := a.sup.Signal(p.GPID, sig); err != nil {
			if errors.Is(err, model.ErrNotRunning) {
				return p, notLive(p)
			}
			return p, err
		}
		if rec, ok := a.sup.Get(p.GPID); ok {
			return rec, nil
		}
		return p, nil
	})
}

// Stop implements apiserver.Backend.
func (a *Agent) Stop(ctx context.Context, target string, timeout time.Duration) ([]model.Process, error) {
	return a.forEach(ctx, target, func(p model.Process) (model.Process, error) {
		if p.State.Ended() {
			return p, nil
		}
		if rec, remote, err := a.onNode(ctx, p, func(c *nefele.Client, g string) error {
			_, err := c.Stop(ctx, g, timeout)
			return err
		}); remote {
			return rec, err
		}
		rec, err := a.sup.Stop(ctx, p.GPID, timeout)
		if errors.Is(err, model.ErrNotRunning) {
			p, _, err = a.store.Get(ctx, p.GPID)
			return p, err
		}
		return rec, err
	})
}

// Restart implements apiserver.Backend: a live process is stopped and
// started again; an ended one is started again, in place, with its GPID.
func (a *Agent) Restart(ctx context.Context, target string) ([]model.Process, error) {
	return a.forEach(ctx, target, func(p model.Process) (model.Process, error) {
		if rec, remote, err := a.onNode(ctx, p, func(c *nefele.Client, g string) error {
			_, err := c.Restart(ctx, g)
			return err
		}); remote {
			return rec, err
		}
		if p.Attached {
			return p, model.Invalid(string(p.GPID), fmt.Sprintf("%s was run by exec and cannot be restarted", p.GPID))
		}
		rec, err := a.sup.Restart(ctx, p.GPID)
		if !errors.Is(err, model.ErrNotRunning) {
			return rec, err
		}
		p.Restarts++
		p.Exit, p.Failure, p.Reason = nil, "", "restarted (asked for)"
		return a.sup.Start(ctx, p)
	})
}

// Wait implements apiserver.Backend.
func (a *Agent) Wait(ctx context.Context, target string) ([]model.Process, error) {
	return a.forEach(ctx, target, func(p model.Process) (model.Process, error) {
		return a.store.WaitEnded(ctx, p.GPID)
	})
}

// Events implements apiserver.Backend.
func (a *Agent) Events(ctx context.Context, follow bool, fn func(model.Event) error) error {
	return a.store.Events(ctx, follow, fn)
}

// Nodes implements apiserver.Backend, from the cluster view.
func (a *Agent) Nodes(ctx context.Context) ([]apiserver.NodeStatus, error) {
	nodes := a.view.Nodes()
	out := make([]apiserver.NodeStatus, len(nodes))
	for i, n := range nodes {
		state := "down"
		if n.Up {
			state = "up"
		}
		out[i] = apiserver.NodeStatus{Node: n.Node, State: state, Processes: n.Allocated.MaxProcs,
			Drained: n.Drained, Allocated: n.Allocated}
	}
	return out, nil
}
