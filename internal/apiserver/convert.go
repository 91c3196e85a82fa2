package apiserver

import (
	"strings"
	"time"

	nefelev1 "github.com/nefele/nefele/api/nefele/v1"
	"github.com/nefele/nefele/internal/model"
)

var stateToWire = map[model.State]nefelev1.State{
	model.StatePending:  nefelev1.State_STATE_PENDING,
	model.StateStarting: nefelev1.State_STATE_STARTING,
	model.StateRunning:  nefelev1.State_STATE_RUNNING,
	model.StateBackoff:  nefelev1.State_STATE_BACKOFF,
	model.StateExited:   nefelev1.State_STATE_EXITED,
	model.StateFailed:   nefelev1.State_STATE_FAILED,
	model.StateLost:     nefelev1.State_STATE_LOST,
}

var restartFromWire = map[nefelev1.RestartPolicy]model.RestartPolicy{
	nefelev1.RestartPolicy_RESTART_POLICY_UNSPECIFIED: "",
	nefelev1.RestartPolicy_RESTART_POLICY_NEVER:       model.RestartNever,
	nefelev1.RestartPolicy_RESTART_POLICY_ON_FAILURE:  model.RestartOnFailure,
	nefelev1.RestartPolicy_RESTART_POLICY_ALWAYS:      model.RestartAlways,
}

func restartToWire(p model.RestartPolicy) nefelev1.RestartPolicy {
	for w, m := range restartFromWire {
		if m == p {
			return w
		}
	}
	return nefelev1.RestartPolicy_RESTART_POLICY_UNSPECIFIED
}

func timeToWire(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// specFromWire converts a wire spec; Validate is the caller's.
func specFromWire(s *nefelev1.Spec) (model.Spec, error) {
	if s == nil {
		return model.Spec{}, model.Invalid("", "missing spec: give the command to run")
	}
	policy, ok := restartFromWire[s.Restart]
	if !ok {
		return model.Spec{}, model.Invalid(s.Restart.String(), "invalid restart policy "+s.Restart.String()+": use never, on-failure or always")
	}
	var res model.Resources
	var err error
	if s.Cpu != "" {
		if res.CPUMilli, err = model.ParseCPU(s.Cpu); err != nil {
			return model.Spec{}, err
		}
	}
	if s.Memory != "" {
		if res.MemoryBytes, err = model.ParseMemory(s.Memory); err != nil {
			return model.Spec{}, err
		}
	}
	cons := make([]model.Constraint, 0, len(s.Constraints))
	for _, c := range s.Constraints {
		mc, err := model.ParseConstraint(c)
		if err != nil {
			return model.Spec{}, err
		}
		cons = append(cons, mc)
	}
	return model.Spec{
		Command: s.Command, Env: s.Env, Workdir: s.Workdir, Restart: policy,
		MaxRestarts: int(s.MaxRestarts), StopSignal: s.StopSignal,
		StopTimeout: time.Duration(s.StopTimeoutMs) * time.Millisecond,
		Resources:   res,
		Constraints: cons, Node: s.Node, Ports: s.Ports, StdinFrom: s.StdinFrom,
	}, nil
}

// SpecToWire converts a spec to its wire form, for an agent that relays a
// request to another agent.
func SpecToWire(s model.Spec) *nefelev1.Spec { return specToWire(s) }

func specToWire(s model.Spec) *nefelev1.Spec {
	cons := make([]string, len(s.Constraints))
	for i, c := range s.Constraints {
		cons[i] = c.String()
	}
	w := &nefelev1.Spec{
		Command: s.Command, Env: s.Env, Workdir: s.Workdir, Restart: restartToWire(s.Restart),
		MaxRestarts: int32(s.MaxRestarts), StopSignal: s.StopSignal, StopTimeoutMs: s.StopTimeout.Milliseconds(),
		Constraints: cons, Node: s.Node, Ports: s.Ports, StdinFrom: s.StdinFrom,
	}
	if s.Resources.CPUMilli > 0 {
		w.Cpu = model.FormatCPU(s.Resources.CPUMilli)
	}
	if s.Resources.MemoryBytes > 0 {
		w.Memory = model.FormatMemory(s.Resources.MemoryBytes)
	}
	return w
}

func processToWire(p model.Process) *nefelev1.Process {
	w := &nefelev1.Process{
		Gpid: string(p.GPID), Name: p.Name, Group: p.Group, Replica: int32(p.Replica), Node: p.Node,
		State: stateToWire[p.State], Pid: int32(p.PID), ExitCode: -1, Reason: p.Reason,
		Restarts: int32(p.Restarts), CreatedAt: timeToWire(p.CreatedAt), StartedAt: timeToWire(p.StartedAt),
		EndedAt: timeToWire(p.EndedAt), Spec: specToWire(p.Spec), Attached: p.Attached,
		NextRestartAt: timeToWire(p.NextRestartAt), Failure: reasonOf(p.Failure),
	}
	if p.Exit != nil {
		w.ExitCode, w.Signal = int32(p.Exit.Code), p.Exit.Signal
	}
	return w
}

func processesToWire(ps []model.Process) []*nefelev1.Process {
	out := make([]*nefelev1.Process, len(ps))
	for i, p := range ps {
		out[i] = processToWire(p)
	}
	return out
}

func eventToWire(e model.Event) *nefelev1.Event {
	return &nefelev1.Event{
		Time: timeToWire(e.Time), Gpid: string(e.GPID), Name: e.Name, Node: e.Node,
		From: stateToWire[e.From], To: stateToWire[e.To], Reason: e.Reason,
	}
}

func nodeToWire(n NodeStatus) *nefelev1.Node {
	return &nefelev1.Node{
		Name: n.Name, Address: n.Address, State: n.State, Pid: int32(n.PID), Server: n.Server,
		Labels: n.Labels, Cpu: int32(n.CPU), MemoryBytes: n.Memory, MaxProcs: int32(n.MaxProcs),
		Version: n.Version, StartedAt: timeToWire(n.StartedAt), Processes: int32(n.Processes),
		LastSeen: timeToWire(n.LastSeen), Drained: n.Drained,
		AllocatedCpuMilli: n.Allocated.CPUMilli, AllocatedMemoryBytes: n.Allocated.MemoryBytes,
	}
}

func logStreamFromWire(s nefelev1.LogStream) []string {
	switch s {
	case nefelev1.LogStream_LOG_STREAM_STDOUT:
		return []string{"stdout"}
	case nefelev1.LogStream_LOG_STREAM_STDERR:
		return []string{"stderr"}
	}
	return []string{"stdout", "stderr"}
}

func logStreamToWire(s string) nefelev1.LogStream {
	if strings.HasSuffix(s, "stderr") {
		return nefelev1.LogStream_LOG_STREAM_STDERR
	}
	return nefelev1.LogStream_LOG_STREAM_STDOUT
}
