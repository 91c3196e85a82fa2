package sched_test

import (
	"errors"
	"fmt"

	"github.com/nefele/nefele/internal/model"
	"github.com/nefele/nefele/internal/sched"
)

func ExamplePlace() {
	eu := map[string]string{"zone": "eu"}
	capa := model.Capacity{CPUMilli: 4000, MemoryBytes: 8 << 30, MaxProcs: 64}
	nodes := []sched.NodeView{
		{Name: "a", Labels: eu, Capacity: capa, Allocated: model.Capacity{CPUMilli: 3000, MaxProcs: 10}},
		{Name: "b", Labels: eu, Capacity: capa, Allocated: model.Capacity{CPUMilli: 1000, MaxProcs: 3}},
		{Name: "c", Labels: map[string]string{"zone": "us"}, Capacity: capa},
	}
	zone, _ := model.ParseConstraint("zone=eu")
	mem, _ := model.ParseMemory("512Mi")
	req := sched.Request{
		Resources:   model.Resources{CPUMilli: 500, MemoryBytes: mem},
		Constraints: []model.Constraint{zone},
		Spread:      map[string]int{"b": 1}, // one replica of the group runs on b
	}
	cands, _ := sched.Place(req, nodes)
	for _, c := range cands {
		fmt.Printf("%s: replicas %d, load %.3f\n", c.Node, c.Replicas, c.Load)
	}

	req.Resources.CPUMilli = 3500
	_, err := sched.Place(req, nodes)
	var nf *sched.NoFitError
	fmt.Println(errors.Is(err, sched.ErrNoFit), errors.As(err, &nf), len(nf.Rejections))
	fmt.Println(err)
	// Output:
	// a: replicas 0, load 0.875
	// b: replicas 1, load 0.375
	// true true 3
	// no node fits: node a: cpu 1 free, 3500m asked; node b: cpu 3 free, 3500m asked; node c: constraint zone=eu not met
}
