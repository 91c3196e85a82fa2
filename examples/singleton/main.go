// Command singleton is a worker of which one runs at a time in the whole
// cluster, wherever its replicas are: run it as a group,
//
//	nefele run --name singleton --replicas 2 -- singleton
//
// Every replica campaigns in the election "singleton"; the leader works
// (here: it stamps the key singleton/leader with its node and its term
// every 200 ms) until it dies; then a replica on another node leads. Its
// work is fenced by its term: a stamp only replaces one of an older or the
// same term, so a leader that lost its lease without knowing (its node was
// cut off) cannot overwrite its successor's.
package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	nefele "github.com/nefele/nefele/sdk"
)

func main() {
	if err := run(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, "singleton:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	c, err := nefele.Connect(ctx)
	if err != nil {
		return err
	}
	node := os.Getenv("NEFELE_NODE")
	fmt.Println("campaigning on", node)
	term, err := c.Election("singleton").Campaign(ctx, []byte(node))
	if err != nil {
		return err
	}
	fmt.Println("leading on", node, "term", term)
	for {
		if err := stamp(ctx, c.KV(), node, term); err != nil {
			return err
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// stamp writes "NODE TERM" to singleton/leader unless a newer term is there.
func stamp(ctx context.Context, kv *nefele.KV, node string, term int64) error {
	value := []byte(node + " " + strconv.FormatInt(term, 10))
	for {
		cur, err := kv.Get(ctx, "singleton/leader")
		expect := nefele.Absent()
		if err == nil {
			fields := strings.Fields(string(cur.Value))
			if len(fields) == 2 {
				if t, _ := strconv.ParseInt(fields[1], 10, 64); t > term {
					return fmt.Errorf("a newer leader (term %d) took over: stepping down", t)
				}
			}
			expect = nefele.AtRevision(cur.Revision)
		}
		ok, _, err := kv.CompareAndSwap(ctx, "singleton/leader", expect, value)
		if err != nil || ok {
			return err
		}
	}
}
