package agent

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/nefele/nefele/internal/model"
	"github.com/nefele/nefele/internal/store"
)

// A process's token says which process calls: "v1.TENANT.GPID.MAC", where
// MAC is an HMAC-SHA256 of the tenant and GPID under the cluster's secret.
// Any agent checks one without a lookup; it is good while its process
// lives (the same across restarts in place, as the GPID is).
const tokenVersion = "v1"

// token returns the token of the process gpid of tenant.
func (a *Agent) token(tenant string, gpid model.GPID) string {
	return tokenVersion + "." + tenant + "." + string(gpid) + "." + a.mac(tenant, gpid)
}

func (a *Agent) mac(tenant string, gpid model.GPID) string {
	h := hmac.New(sha256.New, a.secret)
	h.Write([]byte(tokenVersion + "|" + tenant + "|" + string(gpid)))
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// processEnv is what the agent adds to the environment of each process it
// starts: how to reach the agent, and who the process is.
func (a *Agent) processEnv(rec model.Process) []string {
	env := []string{"NEFELE_ADDR=" + a.AdvertisedAddr(), "NEFELE_GPID=" + string(rec.GPID),
		"NEFELE_NODE=" + a.node.Name, "NEFELE_TENANT=" + store.DefaultTenant,
		"NEFELE_TOKEN=" + a.token(store.DefaultTenant, rec.GPID)}
	if rec.Group != "" {
		env = append(env, "NEFELE_GROUP="+rec.Group, "NEFELE_REPLICA="+strconv.Itoa(rec.Replica))
	}
	return append(env, a.allocatePorts(rec)...)
}

func unauthenticated(why string) error {
	return &model.SubjectError{Err: model.ErrUnauthenticated, Msg: "unauthenticated: " + why}
}

// Caller implements apiserver.Backend: it returns the live process whose
// token a request carries, nil when it carries none.
func (a *Agent) Caller(ctx context.Context, token string) (*model.Process, error) {
	if token == "" {
		return nil, nil
	}
	parts := strings.Split(token, ".")
	if len(parts) != 4 || parts[0] != tokenVersion {
		return nil, unauthenticated("malformed token: use the NEFELE_TOKEN the agent gave the process")
	}
	tenant, gpid := parts[1], model.GPID(parts[2])
	if !hmac.Equal([]byte(parts[3]), []byte(a.mac(tenant, gpid))) || tenant != store.DefaultTenant {
		return nil, unauthenticated("the token is not one this cluster issued")
	}
	p, _, ok := a.view.Process(gpid)
	if !ok {
		var err error
		if p, _, err = a.store.Get(ctx, gpid); err != nil {
			if errors.Is(err, model.ErrNoProcess) {
				return nil, unauthenticated(fmt.Sprintf("process %s is gone", gpid))
			}
			return nil, err
		}
	}
	if p.State.Ended() {
		return nil, unauthenticated(fmt.Sprintf("process %s has ended (%s)", gpid, p.State))
	}
	return &p, nil
}

// needCaller returns the calling process, or an error naming what needs one.
func needCaller(caller *model.Process, what string) (*model.Process, error) {
	if caller == nil {
		return nil, &model.SubjectError{Err: model.ErrNotProcess,
			Msg: what + " needs a managed process as its caller: call from a process Nefele runs (the SDK's Connect sends its NEFELE_TOKEN)"}
	}
	return caller, nil
}

// leaseOf returns the lease of the calling process p, granting it on first
// use. The agent of p's node keeps it alive while p runs and revokes it
// when the run ends (see endRun), so what is bound to it goes with p.
func (a *Agent) leaseOf(ctx context.Context, p *model.Process) (clientv3.LeaseID, error) {
	if p.Node != a.node.Name {
		return 0, &model.SubjectError{Subject: string(p.GPID), Err: model.ErrInvalid,
			Msg: fmt.Sprintf("calls of %s bound to its life go to the agent of its node %s (its NEFELE_ADDR), not to %s", p.GPID, p.Node, a.node.Name)}
	}
	a.leasesMu.Lock()
	defer a.leasesMu.Unlock()
	if id, ok := a.leases[p.GPID]; ok {
		return id, nil
	}
	if _, live := a.sup.Get(p.GPID); !live {
		return 0, unauthenticated(fmt.Sprintf("process %s is not running", p.GPID))
	}
	id, err := a.store.GrantProcessLease(ctx, p.GPID, int64(a.cfg.LeaseTTL/1e9))
	if err != nil {
		return 0, err
	}
	if err := a.keepLease(p.GPID, id); err != nil {
		return 0, err
	}
	return id, nil
}

// keepLease keeps the lease id of gpid alive; the caller holds leasesMu.
func (a *Agent) keepLease(gpid model.GPID, id clientv3.LeaseID) error {
	ka, err := a.store.Client().KeepAlive(a.ctx, id)
	if err != nil {
		return fmt.Errorf("keep the lease of %s: %w", gpid, err)
	}
	a.leases[gpid] = id
	go func() {
		for range ka {
		}
	}()
	return nil
}

// endRun revokes the lease of gpid, whose run has ended: its names, keys
// and locks go at once.
func (a *Agent) endRun(gpid model.GPID) {
	a.dropRelay(gpid)
	a.leasesMu.Lock()
	id, ok := a.leases[gpid]
	delete(a.leases, gpid)
	a.leasesMu.Unlock()
	if !ok {
		return
	}
	go func() {
		if _, err := a.store.Client().Revoke(a.ctx, id); err != nil && a.ctx.Err() == nil {
			a.log.Warn("revoke the lease of an ended process", "gpid", gpid, "err", err)
		}
	}()
}

// resumeLease keeps alive again, after an agent restart, the lease of an
// adopted process, if it has not expired meanwhile.
func (a *Agent) resumeLease(ctx context.Context, gpid model.GPID) error {
	id, ok, err := a.store.ProcessLease(ctx, gpid)
	if err != nil || !ok {
		return err
	}
	a.leasesMu.Lock()
	defer a.leasesMu.Unlock()
	return a.keepLease(gpid, id)
}
