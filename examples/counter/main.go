// Command counter is a service found by name, and its client.
//
//	nefele run -- counter serve counter     # registers the name "counter"
//	nefele exec -- counter call counter     # finds it with Lookup, asks it to count
//
// serve registers the name (it is released when the service ends, however
// it ends), listens on a free port and publishes its address in the key
// services/NAME, bound to its life; each HTTP request to /incr returns the
// next count. call looks the name up, reads the address and calls it; a
// name that no live process holds exits 1 with "no such name: NAME".
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync/atomic"

	nefele "github.com/nefele/nefele/sdk"
)

func main() {
	if len(os.Args) != 3 || (os.Args[1] != "serve" && os.Args[1] != "call") {
		fmt.Fprintln(os.Stderr, "usage: counter serve NAME | counter call NAME")
		os.Exit(2)
	}
	ctx := context.Background()
	c, err := nefele.Connect(ctx)
	if err == nil {
		if os.Args[1] == "serve" {
			err = serve(ctx, c, os.Args[2])
		} else {
			err = call(ctx, c, os.Args[2])
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "counter:", err)
		os.Exit(1)
	}
}

func serve(ctx context.Context, c *nefele.Client, name string) error {
	if _, err := c.Register(ctx, name); err != nil {
		return err
	}
	host, _, _ := net.SplitHostPort(os.Getenv(nefele.EnvAddr))
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return err
	}
	if _, err := c.KV().Put(ctx, "services/"+name, []byte(l.Addr().String()), nefele.BoundToCaller()); err != nil {
		return err
	}
	fmt.Println("serving", name, "at", l.Addr())
	var n atomic.Int64
	return http.Serve(l, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, n.Add(1))
	}))
}

func call(ctx context.Context, c *nefele.Client, name string) error {
	reg, err := c.Lookup(ctx, name)
	if err != nil {
		return err
	}
	addr, err := c.KV().Get(ctx, "services/"+name)
	if errors.Is(err, nefele.ErrKeyNotFound) {
		return fmt.Errorf("%s (%s on %s) publishes no address", name, reg.Gpid, reg.Node)
	}
	if err != nil {
		return err
	}
	res, err := http.Get("http://" + string(addr.Value) + "/incr")
	if err != nil {
		return err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return err
	}
	fmt.Println(strings.TrimSpace(string(b)), "from", reg.Gpid, "on", reg.Node)
	return nil
}
