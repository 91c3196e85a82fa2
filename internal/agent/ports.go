package agent

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/nefele/nefele/internal/model"
)

// allocatePorts picks a free TCP port on this node's advertised address
// for each named port of rec, for its next run, and returns their
// environment. The choice is kept until the run has published them.
func (a *Agent) allocatePorts(rec model.Process) []string {
	if len(rec.Spec.Ports) == 0 {
		return nil
	}
	host, _, _ := net.SplitHostPort(a.AdvertisedAddr())
	ports := map[string]string{}
	var env []string
	for _, name := range rec.Spec.Ports {
		l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
		if err != nil {
			a.log.Warn("allocate a port", "gpid", rec.GPID, "port", name, "err", err)
			continue
		}
		addr := l.Addr().String()
		l.Close()
		_, port, _ := net.SplitHostPort(addr)
		ports[name] = addr
		env = append(env, model.PortEnv(name)+"="+port)
	}
	a.portsMu.Lock()
	a.ports[rec.GPID] = ports
	a.portsMu.Unlock()
	return env
}

// publishPorts publishes the ports of p's run, each once it accepts
// connections, bound to p's lease: an endpoint goes with its run.
func (a *Agent) publishPorts(p model.Process) {
	a.portsMu.Lock()
	ports := a.ports[p.GPID]
	a.portsMu.Unlock()
	if len(ports) == 0 {
		return
	}
	service := p.Group
	if service == "" {
		service = p.Name
	}
	if service == "" {
		service = string(p.GPID)
	}
	for name, addr := range ports {
		go func() {
			if !a.accepting(p.GPID, addr) {
				return
			}
			lease, err := a.leaseOf(a.ctx, &p)
			if err == nil {
				err = a.store.PutEndpoint(a.ctx, model.Endpoint{Service: service, Port: name, GPID: p.GPID, Node: a.node.Name, Address: addr}, lease)
			}
			if err != nil && a.ctx.Err() == nil {
				a.log.Warn("publish a port", "gpid", p.GPID, "port", name, "err", err)
			}
		}()
	}
}

// accepting waits until addr accepts a connection, while gpid runs.
func (a *Agent) accepting(gpid model.GPID, addr string) bool {
	for delay := 5 * time.Millisecond; a.ctx.Err() == nil; delay = min(2*delay, 200*time.Millisecond) {
		if rec, live := a.sup.Get(gpid); !live || rec.State != model.StateRunning {
			return false
		}
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return true
		}
		sleepCtx(a.ctx, delay)
	}
	return false
}

// WatchPorts implements apiserver.Backend.
func (a *Agent) WatchPorts(ctx context.Context, service string, fn func([]model.Endpoint) error) error {
	if model.ValidateName(service) != nil && !model.IsGPID(service) {
		return model.Invalid(service, fmt.Sprintf("invalid service %q: give a group, a name or a GPID", service))
	}
	return a.store.WatchEndpoints(ctx, service, fn)
}

// Ports implements apiserver.Backend.
func (a *Agent) Ports(ctx context.Context, service string) ([]model.Endpoint, error) {
	if service != "" && model.ValidateName(service) != nil && !model.IsGPID(service) {
		return nil, model.Invalid(service, fmt.Sprintf("invalid service %q: give a group, a name or a GPID", service))
	}
	return a.store.Endpoints(ctx, service)
}
