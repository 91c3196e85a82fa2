package sched

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/nefele/nefele/internal/model"
)

const (
	mi = 1 << 20
	gi = 1 << 30
)

func constraints(t testing.TB, ss ...string) []model.Constraint {
	t.Helper()
	var cs []model.Constraint
	for _, s := range ss {
		c, err := model.ParseConstraint(s)
		if err != nil {
			t.Fatal(err)
		}
		cs = append(cs, c)
	}
	return cs
}

func names(cands []Candidate) []string {
	out := make([]string, len(cands))
	for i, c := range cands {
		out[i] = c.Node
	}
	return out
}

// noFitOf returns the *NoFitError in err, failing the test when there is none.
func noFitOf(t *testing.T, err error) *NoFitError {
	t.Helper()
	var nf *NoFitError
	if !errors.Is(err, ErrNoFit) || !errors.Is(err, model.ErrNoCapacity) || !errors.As(err, &nf) {
		t.Fatalf("error %v: not a *NoFitError matching ErrNoFit", err)
	}
	return nf
}

// rejected is one node of each kind of rejection, for a request of one core
// and 512Mi in zone eu; "ok" fits.
func rejected() []NodeView {
	eu := map[string]string{"zone": "eu"}
	return []NodeView{
		{Name: "f", Labels: eu, Drained: true},
		{Name: "c", Labels: eu, Capacity: model.Capacity{MemoryBytes: gi}, Allocated: model.Capacity{MemoryBytes: 824 * mi}},
		{Name: "a", Labels: eu, Down: true},
		{Name: "e", Labels: eu, Capacity: model.Capacity{MaxProcs: 64}, Allocated: model.Capacity{MaxProcs: 64}},
		{Name: "b", Labels: map[string]string{"zone": "us"}},
		{Name: "d", Labels: eu, Capacity: model.Capacity{CPUMilli: 2000}, Allocated: model.Capacity{CPUMilli: 1750}},
		{Name: "g", Labels: eu, Refused: "refused: process slots full (3 of 3 used, 1 asked)"},
	}
}

func TestNoFitSaysWhyForEachNode(t *testing.T) {
	req := Request{Resources: model.Resources{CPUMilli: 1000, MemoryBytes: 512 * mi}, Constraints: constraints(t, "zone=eu")}
	cands, err := Place(req, rejected())
	if cands != nil {
		t.Fatalf("candidates %v", names(cands))
	}
	want := "no node fits: node a: down; node b: constraint zone=eu not met; node c: memory 200Mi free, 512Mi asked; " +
		"node d: cpu 250m free, 1 asked; node e: process slots full (64 of 64); node f: unschedulable (drained); " +
		"node g: refused: process slots full (3 of 3 used, 1 asked)"
	if err == nil || err.Error() != want {
		t.Fatalf("error\n%v\nwant\n%s", err, want)
	}
	nf := noFitOf(t, err)
	if len(nf.Rejections) != 7 || nf.Rejections[2] != (Rejection{"c", "memory 200Mi free, 512Mi asked"}) {
		t.Fatalf("rejections %+v", nf.Rejections)
	}
	if _, err := Place(req, append(rejected(), NodeView{Name: "ok", Labels: map[string]string{"zone": "eu"}})); err != nil {
		t.Fatalf("a node that fits among rejected ones: %v", err)
	}
}

func TestEachFilterAlone(t *testing.T) {
	full := []NodeView{{Name: "n", Labels: map[string]string{"zone": "eu", "disk": "hdd"},
		Capacity:  model.Capacity{CPUMilli: 1000, MemoryBytes: gi, MaxProcs: 2},
		Allocated: model.Capacity{CPUMilli: 500, MemoryBytes: gi / 2, MaxProcs: 1}}}
	cases := []struct {
		name string
		req  Request
		edit func(*NodeView)
		want string // the reason, "" for a fit
	}{
		{"fits", Request{Resources: model.Resources{CPUMilli: 500, MemoryBytes: gi / 2}}, nil, ""},
		{"down", Request{}, func(n *NodeView) { n.Down = true }, "down"},
		{"drained", Request{}, func(n *NodeView) { n.Drained = true }, "unschedulable (drained)"},
		{"down before drained", Request{}, func(n *NodeView) { n.Down, n.Drained = true, true }, "down"},
		{"refused", Request{}, func(n *NodeView) { n.Refused = "no" }, "no"},
		{"constraint", Request{Constraints: constraints(t, "zone=us")}, nil, "constraint zone=us not met"},
		{"not constraint", Request{Constraints: constraints(t, "zone!=eu")}, nil, "constraint zone!=eu not met"},
		{"absent label", Request{Constraints: constraints(t, "gpu=yes")}, nil, "constraint gpu=yes not met"},
		{"absent label with !=", Request{Constraints: constraints(t, "gpu!=yes")}, nil, ""},
		{"two constraints", Request{Constraints: constraints(t, "zone=us", "disk=hdd", "disk!=hdd")}, nil,
			"constraints zone=us, disk!=hdd not met"},
		{"cpu", Request{Resources: model.Resources{CPUMilli: 501}}, nil, "cpu 500m free, 501m asked"},
		{"cpu overcommitted", Request{Resources: model.Resources{CPUMilli: 1}},
			func(n *NodeView) { n.Allocated.CPUMilli = 3000 }, "cpu 0 free, 1m asked"},
		{"memory", Request{Resources: model.Resources{MemoryBytes: gi}}, nil, "memory 512Mi free, 1Gi asked"},
		{"memory same figure", Request{Resources: model.Resources{MemoryBytes: gi/2 + 1}}, nil,
			"memory 536870912 free, 536870913 asked"},
		{"cpu before memory", Request{Resources: model.Resources{CPUMilli: 2000, MemoryBytes: 2 * gi}}, nil, "cpu 500m free, 2 asked"},
		{"slots", Request{}, func(n *NodeView) { n.Allocated.MaxProcs = 2 }, "process slots full (2 of 2)"},
		{"constraint before capacity", Request{Resources: model.Resources{CPUMilli: 2000}, Constraints: constraints(t, "zone=us")}, nil,
			"constraint zone=us not met"},
		{"undeclared capacity is no limit", Request{Resources: model.Resources{CPUMilli: 1e6, MemoryBytes: 1 << 50}},
			func(n *NodeView) { n.Capacity = model.Capacity{} }, ""},
		{"a zero request fits an overcommitted node", Request{},
			func(n *NodeView) { n.Allocated.CPUMilli, n.Allocated.MemoryBytes = 1e6, 1<<50 }, ""},
	}
	for _, c := range cases {
		nodes := slices.Clone(full)
		if c.edit != nil {
			c.edit(&nodes[0])
		}
		cands, err := Place(c.req, nodes)
		if c.want == "" {
			if err != nil || len(cands) != 1 {
				t.Errorf("%s: %v, %v; want a fit", c.name, cands, err)
			}
			continue
		}
		if err == nil {
			t.Errorf("%s: fits, want %q", c.name, c.want)
			continue
		}
		if got := noFitOf(t, err).Rejections; len(got) != 1 || got[0].Reason != c.want {
			t.Errorf("%s: %+v, want %q", c.name, got, c.want)
		}
	}
}

func TestPin(t *testing.T) {
	nodes := []NodeView{{Name: "c"}, {Name: "a"}, {Name: "b", Down: true}, {Name: "d"}}
	cands, err := Place(Request{Node: "d"}, nodes)
	if err != nil || !slices.Equal(names(cands), []string{"d"}) {
		t.Fatalf("pin d: %v, %v", names(cands), err)
	}
	_, err = Place(Request{Node: "b"}, nodes)
	if err == nil || err.Error() != "no node fits: node b: down" {
		t.Fatalf("pin to a down node: %v", err)
	}
	_, err = Place(Request{Node: "x"}, nodes)
	if err == nil || err.Error() != "no node fits: node x: no such node (known: a, b, c, d)" {
		t.Fatalf("pin to an unknown node: %v", err)
	}
	var nf *NoFitError
	if !errors.Is(err, ErrNoFit) || !errors.Is(err, model.ErrNoNode) || errors.Is(err, model.ErrNoCapacity) || !errors.As(err, &nf) {
		t.Fatalf("pin to an unknown node: %v does not match ErrNoFit and ErrNoNode (and only them)", err)
	}
	_, err = Place(Request{Node: "x"}, nil)
	if err == nil || err.Error() != "no node fits: node x: no such node (known: none)" {
		t.Fatalf("pin on no nodes: %v", err)
	}
	var many []NodeView
	for i := range 12 {
		many = append(many, NodeView{Name: fmt.Sprintf("n%02d", i)})
	}
	_, err = Place(Request{Node: "x"}, many)
	if err == nil || !strings.HasSuffix(err.Error(), "(known: n00, n01, n02, n03, n04, n05, n06, n07, n08, n09 and 2 more)") {
		t.Fatalf("pin to an unknown node among many: %v", err)
	}
	picks, err := PlaceN(Request{Node: "a"}, nodes, 3)
	if err != nil || !slices.Equal(picks, []string{"a", "a", "a"}) {
		t.Fatalf("PlaceN pinned: %v, %v", picks, err)
	}
}

func TestSpread(t *testing.T) {
	nodes := []NodeView{{Name: "a"}, {Name: "b"}, {Name: "c"}}
	picks, err := PlaceN(Request{}, nodes, 3)
	if err != nil || !slices.Equal(sorted(picks), []string{"a", "b", "c"}) {
		t.Fatalf("3 replicas on 3 nodes: %v, %v", picks, err)
	}
	picks, err = PlaceN(Request{}, nodes, 4)
	if err != nil {
		t.Fatal(err)
	}
	if counts := count(picks); !slices.Equal(sortedCounts(counts), []int{1, 1, 2}) {
		t.Fatalf("4 replicas on 3 nodes: %v", picks)
	}
	// The replicas already running count, and spread wins over load.
	nodes[0].Capacity, nodes[0].Allocated = model.Capacity{CPUMilli: 1000}, model.Capacity{CPUMilli: 900}
	req := Request{Spread: map[string]int{"b": 2, "c": 1}}
	cands, err := Place(req, nodes)
	if err != nil || !slices.Equal(names(cands), []string{"a", "c", "b"}) {
		t.Fatalf("with replicas on b and c: %v, %v", names(cands), err)
	}
	picks, err = PlaceN(req, nodes, 3)
	if err != nil || !slices.Equal(picks, []string{"a", "c", "a"}) {
		t.Fatalf("3 more with replicas on b and c: %v, %v", picks, err)
	}
	if len(req.Spread) != 2 || req.Spread["b"] != 2 || nodes[0].Allocated.CPUMilli != 900 || nodes[0].Allocated.MaxProcs != 0 {
		t.Fatalf("PlaceN changed its input: %v %+v", req.Spread, nodes[0])
	}
}

func sorted(s []string) []string { s = slices.Clone(s); slices.Sort(s); return s }

func count(picks []string) map[string]int {
	m := map[string]int{}
	for _, p := range picks {
		m[p]++
	}
	return m
}

func sortedCounts(m map[string]int) []int {
	var out []int
	for _, n := range m {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

func TestLeastAllocated(t *testing.T) {
	capa := model.Capacity{CPUMilli: 4000, MemoryBytes: 4 * gi, MaxProcs: 10}
	nodes := []NodeView{
		{Name: "mem-heavy", Capacity: capa, Allocated: model.Capacity{CPUMilli: 0, MemoryBytes: 3 * gi}},              // 0.75
		{Name: "cpu-heavy", Capacity: capa, Allocated: model.Capacity{CPUMilli: 2000, MemoryBytes: 0}},                // 0.5
		{Name: "light", Capacity: capa, Allocated: model.Capacity{CPUMilli: 1000, MemoryBytes: gi}},                   // 0.25
		{Name: "light-busy", Capacity: capa, Allocated: model.Capacity{CPUMilli: 1000, MemoryBytes: gi, MaxProcs: 5}}, // 0.25, more slots
		{Name: "empty", Capacity: capa},
	}
	req := Request{Resources: model.Resources{CPUMilli: 0, MemoryBytes: 0}}
	cands, err := Place(req, nodes)
	want := []string{"empty", "light", "light-busy", "cpu-heavy", "mem-heavy"}
	if err != nil || !slices.Equal(names(cands), want) {
		t.Fatalf("order %v, %v; want %v", names(cands), err, want)
	}
	if c := cands[1]; c.Load != 0.25 || c.Slots != 0.1 || c.Procs != 0 || c.Replicas != 0 {
		t.Fatalf("light: %+v", c)
	}
	// The request counts: with two cores asked, the cpu-heavy node is last
	// and the mem-heavy one passes light-busy.
	req.Resources.CPUMilli = 2000
	cands, _ = Place(req, nodes)
	want = []string{"empty", "light", "mem-heavy", "light-busy", "cpu-heavy"}
	if !slices.Equal(names(cands), want) {
		t.Fatalf("with 2 cores asked: %v; want %v", names(cands), want)
	}
}

func TestNoCapacityDeclaredSpreadsByProcesses(t *testing.T) {
	nodes := []NodeView{{Name: "a", Allocated: model.Capacity{MaxProcs: 3}}, {Name: "b", Allocated: model.Capacity{MaxProcs: 1}}, {Name: "c", Allocated: model.Capacity{MaxProcs: 1}}}
	cands, err := Place(Request{}, nodes)
	if err != nil || !slices.Equal(names(cands), []string{"b", "c", "a"}) {
		t.Fatalf("order %v, %v", names(cands), err)
	}
	// Replicas spread first, then go where fewer processes run.
	picks, _ := PlaceN(Request{}, nodes, 4)
	if !slices.Equal(picks, []string{"b", "c", "a", "b"}) {
		t.Fatalf("replicas %v", picks)
	}
}

func TestDownAndDrainedExcluded(t *testing.T) {
	nodes := []NodeView{{Name: "a", Down: true}, {Name: "b", Drained: true}, {Name: "c"}, {Name: "d", Refused: "busy"}}
	cands, err := Place(Request{}, nodes)
	if err != nil || !slices.Equal(names(cands), []string{"c"}) {
		t.Fatalf("%v, %v", names(cands), err)
	}
}

func TestDeterministic(t *testing.T) {
	nodes := syntheticNodes(200)
	req := benchRequest(t)
	first, err := Place(req, nodes)
	if err != nil {
		t.Fatal(err)
	}
	firstN, err := PlaceN(req, nodes, 20)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(7, 7))
	for range 20 {
		shuffled := slices.Clone(nodes)
		r.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		got, err := Place(req, shuffled)
		if err != nil || !slices.Equal(got, first) {
			t.Fatalf("Place depends on the order of nodes: %v", err)
		}
		gotN, err := PlaceN(req, shuffled, 20)
		if err != nil || !slices.Equal(gotN, firstN) {
			t.Fatalf("PlaceN depends on the order of nodes: %v vs %v, %v", gotN, firstN, err)
		}
	}
	for i := 1; i < len(first); i++ {
		if compare(first[i-1], first[i]) >= 0 {
			t.Fatalf("not ranked at %d: %+v then %+v", i, first[i-1], first[i])
		}
	}
}

func TestPlaceNAccountsCapacity(t *testing.T) {
	capa := model.Capacity{CPUMilli: 2000, MemoryBytes: gi, MaxProcs: 10}
	nodes := []NodeView{{Name: "a", Capacity: capa}, {Name: "b", Capacity: capa, Allocated: model.Capacity{MemoryBytes: gi / 2, MaxProcs: 1}}}
	req := Request{Resources: model.Resources{CPUMilli: 100, MemoryBytes: gi / 2}}
	picks, err := PlaceN(req, nodes, 4)
	if !slices.Equal(picks, []string{"a", "b", "a"}) { // b has room for one, and no replica
		t.Fatalf("picks %v", picks)
	}
	want := "replica 4 of 4: no node fits: node a: memory 0 free, 512Mi asked; node b: memory 0 free, 512Mi asked"
	if err == nil || err.Error() != want {
		t.Fatalf("error %v\nwant  %s", err, want)
	}
	noFitOf(t, err)
	// Slots count as well.
	nodes = []NodeView{{Name: "a", Capacity: model.Capacity{MaxProcs: 2}}}
	picks, err = PlaceN(Request{}, nodes, 3)
	if len(picks) != 2 || err == nil || err.Error() != "replica 3 of 3: no node fits: node a: process slots full (2 of 2)" {
		t.Fatalf("slots: %v, %v", picks, err)
	}
	if picks, err := PlaceN(Request{}, nodes, 0); err != nil || len(picks) != 0 {
		t.Fatalf("0 replicas: %v, %v", picks, err)
	}
}

func TestInvalidRequests(t *testing.T) {
	nodes := []NodeView{{Name: "a"}}
	if _, err := Place(Request{Resources: model.Resources{CPUMilli: -1}}, nodes); !errors.Is(err, model.ErrInvalid) {
		t.Errorf("negative cpu: %v", err)
	}
	if _, err := PlaceN(Request{Resources: model.Resources{MemoryBytes: -1}}, nodes, 1); !errors.Is(err, model.ErrInvalid) {
		t.Errorf("negative memory: %v", err)
	}
	if _, err := PlaceN(Request{}, nodes, -1); !errors.Is(err, model.ErrInvalid) {
		t.Errorf("negative count: %v", err)
	}
}

func TestNoNodes(t *testing.T) {
	_, err := Place(Request{}, nil)
	if err == nil || err.Error() != "no node fits: no nodes" {
		t.Fatalf("%v", err)
	}
	noFitOf(t, err)
}

func TestManyRejectionsAreCounted(t *testing.T) {
	var nodes []NodeView
	for i := range 25 {
		nodes = append(nodes, NodeView{Name: fmt.Sprintf("n%02d", i), Down: true})
	}
	_, err := Place(Request{}, nodes)
	msg := err.Error()
	if !strings.HasSuffix(msg, "node n19: down; and 5 more nodes") || strings.Count(msg, ": down") != 20 {
		t.Fatalf("%s", msg)
	}
	if len(noFitOf(t, err).Rejections) != 25 {
		t.Fatal("rejections not all kept")
	}
}

// syntheticNodes returns n varied nodes, the same for the same n.
func syntheticNodes(n int) []NodeView {
	r := rand.New(rand.NewPCG(1, 2))
	zones := []string{"eu-west", "eu-north", "us-east", "us-west", "ap-south"}
	disks := []string{"ssd", "hdd"}
	archs := []string{"amd64", "arm64"}
	nodes := make([]NodeView, n)
	for i := range nodes {
		capa := model.Capacity{
			CPUMilli:    int64(1+r.IntN(64)) * 1000,
			MemoryBytes: int64(1+r.IntN(256)) * gi,
			MaxProcs:    r.IntN(3) * 64, // a third declare no limit
		}
		procs := r.IntN(64)
		nodes[i] = NodeView{
			Name: fmt.Sprintf("node-%04d", i),
			Labels: map[string]string{
				"zone": zones[r.IntN(len(zones))], "disk": disks[r.IntN(len(disks))],
				"kubernetes.io/arch": archs[r.IntN(len(archs))], "rack": fmt.Sprintf("r%d", r.IntN(40)),
			},
			Capacity: capa,
			Allocated: model.Capacity{
				CPUMilli:    r.Int64N(capa.CPUMilli + 1),
				MemoryBytes: r.Int64N(capa.MemoryBytes + 1),
				MaxProcs:    procs,
			},
			Down:    r.IntN(50) == 0,
			Drained: r.IntN(50) == 0,
		}
	}
	return nodes
}

func benchRequest(t testing.TB) Request {
	spread := map[string]int{}
	for i := 0; i < 1000; i += 97 {
		spread[fmt.Sprintf("node-%04d", i)] = 1 + i%3
	}
	return Request{
		Resources:   model.Resources{CPUMilli: 500, MemoryBytes: 512 * mi},
		Constraints: constraints(t, "zone!=ap-south", "disk=ssd"),
		Spread:      spread,
	}
}

func BenchmarkPlace1000Nodes(b *testing.B) {
	nodes := syntheticNodes(1000)
	req := benchRequest(b)
	cands, err := Place(req, nodes)
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("%d of %d nodes fit", len(cands), len(nodes))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Place(req, nodes); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1e6, "ms/decision")
}

func BenchmarkPlaceNoFit1000Nodes(b *testing.B) {
	nodes := syntheticNodes(1000)
	req := benchRequest(b)
	req.Constraints = constraints(b, "zone=mars")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Place(req, nodes); err == nil {
			b.Fatal("fits")
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1e6, "ms/decision")
}

func BenchmarkPlaceN10On1000Nodes(b *testing.B) {
	nodes := syntheticNodes(1000)
	req := benchRequest(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := PlaceN(req, nodes, 10); err != nil {
			b.Fatal(err)
		}
	}
}
