package agent

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nefele/nefele/internal/model"
	nefele "github.com/nefele/nefele/sdk"
)

// peer returns a client of the agent of node, which must be up. Clients are
// kept, one per node, for the agent's life.
func (a *Agent) peer(ctx context.Context, node string) (*nefele.Client, error) {
	nodes, err := a.store.Nodes(ctx)
	if err != nil {
		return nil, err
	}
	for _, n := range nodes {
		if n.Name != node {
			continue
		}
		if !n.Up {
			return nil, fmt.Errorf("%w: node %s is down (last seen %s)", model.ErrUnavailable, node, n.LastSeen.Format(time.RFC3339))
		}
		a.peersMu.Lock()
		defer a.peersMu.Unlock()
		if c, ok := a.peers[n.Address]; ok {
			return c, nil
		}
		c, err := nefele.Dial(n.Address)
		if err != nil {
			return nil, err
		}
		a.peers[n.Address] = c
		return c, nil
	}
	return nil, fmt.Errorf("%w: no node %s", model.ErrUnavailable, node)
}

// onNode carries out call on the agent of p's node when that is another
// node, and then returns p's record as the store has it; remote is false,
// and nothing is done, when p is on this node.
func (a *Agent) onNode(ctx context.Context, p model.Process, call func(c *nefele.Client, gpid string) error) (rec model.Process, remote bool, err error) {
	if p.Node == a.node.Name {
		return p, false, nil
	}
	c, err := a.peer(ctx, p.Node)
	if err != nil {
		return p, true, err
	}
	if err := call(c, string(p.GPID)); err != nil {
		return p, true, remoteErr(err)
	}
	rec, _, err = a.store.Get(ctx, p.GPID)
	return rec, true, err
}

// sdkToModel pairs the SDK's sentinels with the domain's, so that an error
// of another agent goes on with its meaning.
var sdkToModel = []struct{ sdk, domain error }{
	{nefele.ErrNoProcess, model.ErrNoProcess}, {nefele.ErrInvalid, model.ErrInvalid},
	{nefele.ErrNameInUse, model.ErrNameInUse}, {nefele.ErrNotFound, model.ErrNotFound},
	{nefele.ErrNotExecutable, model.ErrNotExecutable}, {nefele.ErrStart, model.ErrStart},
	{nefele.ErrNotRunning, model.ErrNotRunning}, {nefele.ErrUnavailable, model.ErrUnavailable},
	{nefele.ErrNoCapacity, model.ErrNoCapacity}, {nefele.ErrUnreachable, model.ErrUnavailable},
}

func remoteErr(err error) error {
	for _, row := range sdkToModel {
		if errors.Is(err, row.sdk) {
			return &model.SubjectError{Err: row.domain, Msg: err.Error()}
		}
	}
	return err
}

func (a *Agent) closePeers() {
	a.peersMu.Lock()
	defer a.peersMu.Unlock()
	for _, c := range a.peers {
		c.Close()
	}
	a.peers = nil
}
