// Package netsim is the test harness for fault tests: it builds a small
// network of hosts on one Linux machine, out of network namespaces, and cuts
// it, slows it and drops its frames on command. Only tests import it, and
// they need root.
//
// New(t, 3) makes a switch namespace holding a bridge, and three host
// namespaces whose eth0 (198.18.K.1 … 198.18.K.3/24, K chosen per Net) is a
// veth whose peer is a port of the bridge. Faults act where a real network
// would: Partition and Loss drop frames at the bridge (an nftables bridge
// table in the switch namespace), Delay holds the frames a host sends (tc
// netem when the kernel has it, else an iptables NFQUEUE rule in the host and
// a delay queue process). Everything is removed in t.Cleanup, even when the
// test fails: every process in the hosts is killed, the namespaces (and with
// them the nftables and iptables rules) are deleted.
//
// The test process stays in the root namespace, which netsim leaves alone:
// no leg on the bridge, no route to 198.18. Tests reach the hosts by running
// commands in them (Command, Wrap) or by opening sockets in them
// (DialTimeout, Listen, ListenPacket). That is the clean choice: a leg would
// put addresses and routes into the machine's own namespace, which every
// test package running in parallel and everything else on the machine
// share, and which a test binary killed before its cleanup would leave
// dirty; and a client in a host talks to the cluster as a user on one of its
// nodes does, through that host's eth0 and its faults. Because the hosts
// share no namespace with anything, their subnets cannot collide either;
// each Net still picks its own (K from the pid and a counter), so that the
// logs of parallel runs tell them apart. Process ids are shared, because a
// network namespace is not a pid namespace: /proc, kill(2) and pidfds work
// from the test as usual.
//
// The harness re-executes the test binary for the two things it cannot do
// from inside the test: entering a host's namespace before exec, and the
// delay queue. A package that uses netsim therefore calls Init (or Main)
// from its TestMain:
//
//	func TestMain(m *testing.M) { netsim.Main(m) }
package netsim
