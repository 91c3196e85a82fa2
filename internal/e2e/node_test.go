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
	a := testcluster.StartNode(t, "--name", "n1", "--labels", "zone=eu,disk=ssd", "--cpu", "4", "--memory", "1Gi", "--max-procs", "2")
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
	if !errors.Is(err, nefele.ErrNoCapacity) || !strings.Contains(err.Error(), "node n1: process slots full") {
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
		{[]string{"agent", "--data-dir", t.TempDir(), "--addr", "0.0.0.0:0"}, "--advertise HOST:PORT"},
		{[]string{"agent", "--data-dir", t.TempDir(), "--addr", "127.0.0.1:0", "--advertise", "nohost"}, "invalid --advertise"},
		{[]string{"agent", "--data-dir", t.TempDir(), "--addr", "127.0.0.1:0", "--etcd-endpoints", "localhost:2379"}, "invalid --etcd-endpoints"},
		{[]string{"agent", "--data-dir", t.TempDir(), "--addr", "127.0.0.1:0", "--lease-ttl", "100ms"}, "invalid --lease-ttl"},
	} {
		r := a.CLI(nil, tc.args...)
		if r.Code == 0 || !strings.Contains(r.Stderr, tc.want) {
			t.Errorf("nefele %s: code %d err %q, want an error naming %s", strings.Join(tc.args, " "), r.Code, r.Stderr, tc.want)
		}
	}
}

func TestPlacementOnOneNode(t *testing.T) {
	a := testcluster.StartNode(t, "--name", "n1", "--labels", "zone=eu", "--cpu", "2", "--memory", "1Gi")
	cases := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"run", "--constraint", "zone=us", "--", "true"}, 1, "no node fits: node n1: constraint zone=us not met"},
		{[]string{"run", "--memory", "2Gi", "--", "true"}, 1, "node n1: memory 1Gi free, 2Gi asked"},
		{[]string{"run", "--node", "n9", "--", "true"}, 1, "node n9: no such node (known: n1)"},
		{[]string{"run", "--cpu", "lots", "--", "true"}, 1, `"lots"`},
		{[]string{"run", "--memory", "1GB", "--", "true"}, 1, `"1GB"`},
		{[]string{"run", "--constraint", "zone", "--", "true"}, 1, `"zone"`},
		{[]string{"run", "--constraint", "zone=eu", "--constraint", "disk!=hdd", "--node", "n1", "--cpu", "1.5", "--memory", "512Mi", "--", "sleep", "60"}, 0, ""},
		{[]string{"run", "--cpu", "1", "--", "sleep", "60"}, 1, "node n1: cpu 500m free, 1 asked"},
		{[]string{"exec", "--constraint", "zone=us", "--", "true"}, 1, "constraint zone=us not met"},
		{[]string{"exec", "--cpu", "0.5", "--", "true"}, 0, ""},
	}
	for _, tc := range cases {
		r := a.CLI(nil, tc.args...)
		if r.Code != tc.code || !strings.Contains(r.Stderr, tc.want) {
			t.Errorf("nefele %s: code %d err %q, want code %d and %q", strings.Join(tc.args, " "), r.Code, r.Stderr, tc.code, tc.want)
		}
	}
	procs, _ := a.Client().List(ctxT(t), false)
	if len(procs) != 1 || procs[0].Spec.Cpu != "1500m" || procs[0].Spec.Memory != "512Mi" {
		t.Fatalf("live processes %v, want the one placed with cpu 1500m and memory 512Mi", procs)
	}
}
