// Command echo registers the name given as its first argument and answers
// every Call with the bytes it was sent; a plain message it prints.
//
//	go build ./examples/echo
//	nefele run -- $PWD/echo echo1   # prints its GPID, say p1 (a relative path is the agent's)
//	nefele call echo1 hello         # prints hello, from any node
//	nefele send echo1 hi            # `nefele logs p1` shows "from -: hi"
package main

import (
	"context"
	"fmt"
	"os"

	nefele "github.com/nefele/nefele/sdk"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: echo NAME")
		os.Exit(2)
	}
	if err := run(context.Background(), os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "echo:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, name string) error {
	c, err := nefele.Connect(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	if _, err := c.Register(ctx, name); err != nil {
		return err
	}
	fmt.Println("echo: registered", name, "as", c.SelfGPID())
	for {
		msg, err := c.Receive(ctx)
		if err != nil {
			return err
		}
		if msg.IsCall() {
			if err := msg.Reply(msg.Body); err != nil {
				fmt.Println("echo: reply to", msg.From, "failed:", err)
			}
			continue
		}
		from := msg.From
		if from == "" {
			from = "-"
		}
		fmt.Printf("from %s: %s\n", from, msg.Body)
	}
}
