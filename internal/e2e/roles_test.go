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
