// Package faulttest holds the fault tests of Nefele: a cluster of real
// agents, each in a host of its own (internal/netsim network namespaces on
// one bridge), driven through the nefele CLI run inside the hosts, while the
// tests crash a host, cut one off, or slow and drop its packets. They need
// root and skip without it. It has no non-test code.
package faulttest
