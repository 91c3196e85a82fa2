package e2e

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	nefele "github.com/nefele/nefele/sdk"
)

// envRole, set in a process's environment, makes the test binary play a
// managed program that uses the SDK (see runRole), instead of running the
// tests: the programs the tests need, without building any.
const envRole = "NEFELE_E2E_ROLE"

// roleSpec runs the test binary as a managed process in role (with its
// arguments, separated by spaces).
func roleSpec(role string) *nefele.Spec {
	exe, err := os.Executable()
	if err != nil {
		panic(err)
	}
	return &nefele.Spec{Command: []string{exe}, Env: []string{envRole + "=" + role}}
}

// runRole plays role and returns the exit status. Each role prints what it
// did to stdout, which the tests read from the process's log.
func runRole(role string) int {
	ctx := context.Background()
	c, err := nefele.Connect(ctx)
	if err != nil {
		fmt.Println("connect:", err)
		return 2
	}
	args := strings.Fields(role)
	switch args[0] {
	case "register": // register NAME, then live until killed
		reg, err := c.Register(ctx, args[1])
		if err != nil {
			fmt.Println("register:", err)
			return 1
		}
		fmt.Println("registered", reg.Name, reg.Gpid)
		if _, err := c.KV().Put(ctx, "owned/"+args[1], []byte(reg.Gpid), nefele.BoundToCaller()); err != nil {
			fmt.Println("put:", err)
			return 1
		}
		fmt.Println("put owned/" + args[1])
		if len(args) > 2 && args[2] == "exit" {
			return 0
		}
		time.Sleep(time.Hour)
	case "lock": // lock NAME, then live until killed
		token, err := c.Mutex(args[1]).Lock(ctx)
		if err != nil {
			fmt.Println("lock:", err)
			return 1
		}
		fmt.Println("locked", args[1], token)
		time.Sleep(time.Hour)
	case "campaign": // campaign NAME, then live until killed
		rev, err := c.Election(args[1]).Campaign(ctx, []byte("process "+c.SelfGPID()))
		if err != nil {
			fmt.Println("campaign:", err)
			return 1
		}
		fmt.Println("leading", args[1], rev)
		time.Sleep(time.Hour)
	case "barrier": // barrier NAME N
		n, _ := strconv.Atoi(args[2])
		fmt.Println("waiting at", args[1])
		arrived, err := c.Barrier(ctx, args[1], n)
		if err != nil {
			fmt.Println("barrier:", err)
			return 1
		}
		fmt.Println("passed", args[1], arrived)
		time.Sleep(time.Hour)
	case "link": // link TARGET [trap]: link, then live until stopped
		trap := len(args) > 2 && args[2] == "trap"
		if err := c.Link(ctx, args[1], nefele.LinkOptions{Trap: trap}); err != nil {
			fmt.Println("link:", err)
			return 1
		}
		fmt.Println("linked", args[1])
		if trap {
			err := c.LinkExits(ctx, func(p *nefele.Process) error {
				fmt.Println("told", p.Gpid, p.State)
				return nil
			})
			fmt.Println("link exits:", err)
			return 1
		}
		time.Sleep(time.Hour)
	case "unregister": // register NAME, unregister it, then live
		if _, err := c.Register(ctx, args[1]); err != nil {
			fmt.Println("register:", err)
			return 1
		}
		if err := c.Unregister(ctx, args[1]); err != nil {
			fmt.Println("unregister:", err)
			return 1
		}
		fmt.Println("unregistered", args[1])
		time.Sleep(time.Hour)
	case "unlink": // link TARGET, unlink it, then live
		if err := c.Link(ctx, args[1], nefele.LinkOptions{}); err != nil {
			fmt.Println("link:", err)
			return 1
		}
		if err := c.Unlink(ctx, args[1]); err != nil {
			fmt.Println("unlink:", err)
			return 1
		}
		fmt.Println("unlinked", args[1])
		time.Sleep(time.Hour)
	case "listen": // listen on port NAME, answer each connection with the GPID
		l, err := c.Listen(ctx, args[1])
		if err != nil {
			fmt.Println("listen:", err)
			return 1
		}
		fmt.Println("listening at", l.Addr())
		for {
			conn, err := l.Accept()
			if err != nil {
				return 1
			}
			fmt.Fprintln(conn, c.SelfGPID())
			conn.Close()
		}
	case "recv": // recv NAME N: register NAME, take N messages, check each sender's order
		return recvInOrder(ctx, c, args[1], atoi(args[2]))
	case "sendseq": // sendseq TARGET N: send 0..N-1 to TARGET
		for i := range atoi(args[2]) {
			if err := c.Send(ctx, args[1], []byte(strconv.Itoa(i)), nefele.SendOptions{}); err != nil {
				fmt.Println("send:", err)
				return 1
			}
		}
		fmt.Println("sent", args[2])
		time.Sleep(time.Hour)
	case "hang": // hang NAME: register NAME, take calls and never answer
		if _, err := c.Register(ctx, args[1]); err != nil {
			fmt.Println("register:", err)
			return 1
		}
		fmt.Println("registered", args[1])
		for {
			msg, err := c.Receive(ctx)
			if err != nil {
				return 1
			}
			fmt.Println("got call", string(msg.Body), msg.IsCall())
		}
	case "hold": // hold NAME BYTES: a mailbox of BYTES that nobody reads
		n := atoi(args[2])
		if err := c.OpenMailbox(ctx, nefele.MailboxOptions{Capacity: n, Window: n, MaxMessage: 1024}); err != nil {
			fmt.Println("open:", err)
			return 1
		}
		if _, err := c.Register(ctx, args[1]); err != nil {
			fmt.Println("register:", err)
			return 1
		}
		fmt.Println("holding", args[1])
		time.Sleep(time.Hour)
	case "self": // print who the process is
		p, err := c.Self(ctx)
		if err != nil {
			fmt.Println("self:", err)
			return 1
		}
		fmt.Println("self", p.Gpid, os.Getenv("NEFELE_TENANT"), os.Getenv("NEFELE_GROUP"), os.Getenv("NEFELE_REPLICA"))
		time.Sleep(time.Hour)
	}
	return 0
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

// recvInOrder registers name, takes n messages and prints, for each
// sender, how many came and whether they came in the order sent.
func recvInOrder(ctx context.Context, c *nefele.Client, name string, n int) int {
	if _, err := c.Register(ctx, name); err != nil {
		fmt.Println("register:", err)
		return 1
	}
	fmt.Println("registered", name)
	next := map[string]int{}
	for range n {
		msg, err := c.Receive(ctx)
		if err != nil {
			fmt.Println("receive:", err)
			return 1
		}
		if got := atoi(string(msg.Body)); got != next[msg.From] {
			fmt.Printf("out of order from %q: %d after %d\n", msg.From, got, next[msg.From]-1)
			return 1
		}
		next[msg.From]++
	}
	for from, k := range next {
		fmt.Printf("in order from %q: %d\n", from, k)
	}
	time.Sleep(time.Hour)
	return 0
}
