package cli

import (
	"context"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"

	"github.com/spf13/cobra"

	nefele "github.com/nefele/nefele/sdk"
)

func (c *cli) newForwardCmd() *cobra.Command {
	var bind string
	cmd := &cobra.Command{
		Use:   "forward SERVICE/PORT LOCALPORT",
		Short: "Forward a local port to a service's named port in the cluster",
		Long: `forward listens on LOCALPORT (of 127.0.0.1, or --bind) and connects each
connection it accepts to a live endpoint of SERVICE/PORT (a group, a name or
a GPID, and a port it declared with run --port), in turn, so that curl, a
browser or redis-cli here reach a service in the cluster. Data goes
straight between this process and the endpoint. When an endpoint dies, new
connections go to the live ones. LOCALPORT 0 picks a free port. It runs
until Ctrl-C.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 2 || !strings.Contains(args[0], "/") {
				return usageErr(cmd, "forward: want SERVICE/PORT and LOCALPORT, like: nefele forward web/http 8080")
			}
			if p, err := strconv.Atoi(args[1]); err != nil || p < 0 || p > 65535 {
				return usageErr(cmd, "forward: invalid local port %q: want 0 to 65535", args[1])
			}
			return nil
		},
		RunE: c.withClient(func(ctx context.Context, client *nefele.Client, args []string) error {
			ctx, stop := interruptible(ctx)
			defer stop()
			l, err := net.Listen("tcp", net.JoinHostPort(bind, args[1]))
			if err != nil {
				return fmt.Errorf("forward: listen on %s: %w", net.JoinHostPort(bind, args[1]), err)
			}
			go func() { <-ctx.Done(); l.Close() }()
			fmt.Fprintf(c.stdout, "forwarding %s to %s\n", l.Addr(), args[0])
			c.warnNoEndpoint(ctx, client, args[0])
			var wg sync.WaitGroup
			defer wg.Wait()
			for {
				conn, err := l.Accept()
				if err != nil {
					if ctx.Err() != nil {
						return nil
					}
					return fmt.Errorf("forward: %w", err)
				}
				wg.Go(func() { c.forwardOne(ctx, client, args[0], conn) })
			}
		}),
	}
	cmd.Flags().StringVar(&bind, "bind", "127.0.0.1", "local `ADDRESS` to listen on")
	return cmd
}

// forwardOne connects conn to an endpoint of target and copies both ways
// until either side closes.
func (c *cli) forwardOne(ctx context.Context, client *nefele.Client, target string, conn net.Conn) {
	defer conn.Close()
	up, err := client.Dial(ctx, target)
	if err != nil {
		fmt.Fprintf(c.stderr, "nefele: forward: %v\n", err)
		return
	}
	defer up.Close()
	done := make(chan struct{}, 2)
	go func() { io.Copy(up, conn); closeWrite(up); done <- struct{}{} }()
	go func() { io.Copy(conn, up); closeWrite(conn); done <- struct{}{} }()
	select {
	case <-done:
		<-done
	case <-ctx.Done():
	}
}

// closeWrite half-closes a TCP connection, so the other side sees EOF.
func closeWrite(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		tc.CloseWrite()
	}
}

// warnNoEndpoint says so when target (SERVICE/PORT) has no live endpoint
// now: a typo, or a service not up yet, whose connections are refused.
func (c *cli) warnNoEndpoint(ctx context.Context, client *nefele.Client, target string) {
	service, port, _ := strings.Cut(target, "/")
	eps, err := client.Ports(ctx, service)
	if err != nil {
		return
	}
	for _, e := range eps {
		if e.Port == port {
			return
		}
	}
	fmt.Fprintf(c.stderr, "nefele: forward: %s has no live endpoint now (see nefele ports %s); connections are refused until one is up\n", target, service)
}
