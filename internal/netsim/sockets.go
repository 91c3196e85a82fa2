package netsim

import (
	"net"
	"runtime"
	"time"
)

// DialTimeout is net.DialTimeout from host i. The socket belongs to host i
// for its whole life, whichever goroutine uses it.
func (n *Net) DialTimeout(i int, network, address string, timeout time.Duration) (net.Conn, error) {
	var c net.Conn
	err := n.in(i, func() (err error) {
		c, err = net.DialTimeout(network, address, timeout)
		return err
	})
	return c, err
}

// Listen is net.Listen in host i; connections it accepts are host i's too.
func (n *Net) Listen(i int, network, address string) (net.Listener, error) {
	var l net.Listener
	err := n.in(i, func() (err error) {
		l, err = net.Listen(network, address)
		return err
	})
	return l, err
}

// ListenPacket is net.ListenPacket in host i.
func (n *Net) ListenPacket(i int, network, address string) (net.PacketConn, error) {
	var c net.PacketConn
	err := n.in(i, func() (err error) {
		c, err = net.ListenPacket(network, address)
		return err
	})
	return c, err
}

// in runs f on a thread of its own that has entered host i's network
// namespace: the sockets f makes are the host's. f must make its sockets
// on the calling goroutine, as net.Dial and net.Listen do for IP literals.
func (n *Net) in(i int, f func() error) error {
	path := n.path(n.Namespace(i))
	errc := make(chan error, 1)
	go func() {
		// Never unlocked: the thread ends with this goroutine instead of
		// going back to the scheduler in another namespace.
		runtime.LockOSThread()
		if err := setns(path); err != nil {
			errc <- err
			return
		}
		errc <- f()
	}()
	return <-errc
}
