// Command workqueue is a worker of a work queue kept in Nefele's key-value
// store: jobs are keys jobs/<id> holding "todo". Run N workers as a group,
//
//	nefele run --name workers --replicas 3 --restart never -- workqueue 3
//
// Workers meet at the barrier "workqueue/start" (so that none starts
// before all are there), then each claims jobs with compare-and-swap
// (todo → "done by GPID"), so that every job is done exactly once, and
// exits when none is left, printing how many it did.
package main

import (
	"context"
	"fmt"
	"os"
	"strconv"

	nefele "github.com/nefele/nefele/sdk"
)

func main() {
	n, err := strconv.Atoi(append(os.Args[1:], "")[0])
	if err != nil || n < 1 {
		fmt.Fprintln(os.Stderr, "usage: workqueue WORKERS (how many meet at the barrier)")
		os.Exit(2)
	}
	if err := run(context.Background(), n); err != nil {
		fmt.Fprintln(os.Stderr, "workqueue:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, workers int) error {
	c, err := nefele.Connect(ctx)
	if err != nil {
		return err
	}
	if _, err := c.Barrier(ctx, "workqueue/start", workers); err != nil {
		return err
	}
	fmt.Println("passed the barrier")
	me := []byte("done by " + c.SelfGPID())
	done := 0
	jobs, err := c.KV().List(ctx, "jobs/")
	if err != nil {
		return err
	}
	for _, j := range jobs {
		ok, _, err := c.KV().CompareAndSwap(ctx, j.Key, nefele.HasValue([]byte("todo")), me)
		if err != nil {
			return err
		}
		if ok {
			done++
			fmt.Println("did", j.Key)
		}
	}
	fmt.Println("done", done)
	return nil
}
