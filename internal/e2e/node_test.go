package e2e

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/nefele/nefele/internal/testcluster"
	nefele "github.com/nefele/nefele/sdk"
)

func TestAgentDescribesItsNodeAndAdmitsWithinCapacity(t *testing.T) {
	a := testcluster.StartNode(t, "--name", "n1", "--labels", "zone=eu,disk=ssd", "--cpu", "4", "--memory", "1GiB", "--max-procs", "2")
	c := a.Client()
	var nodes []map[string]any
	r := a.CLI(nil, "nodes", "-o", "json")
	if err := json.Unmarshal([]byte(r.Stdout), &nodes); err != nil || len(nodes) != 1 {
		t.Fatalf("nodes -o json: %v %q", err, r.Stdout)
	}
	n := nodes[0]
	labels, _ := n["labels"].(map[string]any)
	if n["name"] != "n1" || n["state"] != "up" || n["cpu"] != float64(4) || n["memory_bytes"] != float64(1<<30) ||
		n["max_procs"] != float64(2) || labels["zone"] != "eu" || labels["disk"] != "ssd" || n["last_seen"] == "" {
		t.Fatalf("node record %v", n)
	}
	spawn(t, c, nefele.SpawnOptions{}, &nefele.Spec{Command: []string{"sleep", "60"}})
	spawn(t, c, nefele.SpawnOptions{}, &nefele.Spec{Command: []string{"sleep", "60"}})
	_, err := c.Spawn(ctxT(t), &nefele.Spec{Command: []string{"sleep", "60"}}, nefele.SpawnOptions{})
	if !errors.Is(err, nefele.ErrNoCapacity) || !strings.Contains(err.Error(), "node n1: process slots full (2 of 2 used, 1 asked)") {
		t.Fatalf("third spawn on a node with --max-procs 2: %v", err)
	}
	r = a.CLI(nil, "exec", "--", "true")
	if r.Code != 1 || !strings.Contains(r.Stderr, "process slots full") {
		t.Fatalf("exec beyond capacity: code %d err %q", r.Code, r.Stderr)
	}
	if r := a.CLI(nil, "ps"); strings.Count(r.Stdout, "sleep 60") != 2 {
		t.Fatalf("a refused spawn left a record behind:\n%s", r.Stdout)
	}
}

func TestAgentBadFlags(t *testing.T) {
	a := testcluster.StartAgent(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"agent", "--data-dir", t.TempDir(), "--labels", "zone"}, "--labels"},
		{[]string{"agent", "--data-dir", t.TempDir(), "--cpu", "-1"}, "--cpu"},
		{[]string{"agent", "--data-dir", t.TempDir(), "--memory", "lots"}, "--memory"},
		{[]string{"agent", "--data-dir", t.TempDir(), "--max-procs", "x"}, "--max-procs"},
		{[]string{"agent"}, "--data-dir"},
		{[]string{"agent", "--data-dir", t.TempDir(), "--name", "Bad Name", "--addr", "127.0.0.1:0"}, "invalid node name"},
	} {
		r := a.CLI(nil, tc.args...)
		if r.Code == 0 || !strings.Contains(r.Stderr, tc.want) {
			t.Errorf("nefele %s: code %d err %q, want an error naming %s", strings.Join(tc.args, " "), r.Code, r.Stderr, tc.want)
		}
	}
}
