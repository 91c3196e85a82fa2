// Package e2e holds the end-to-end tests of Nefele: real agents as OS
// processes (internal/testcluster) with embedded etcd, real child processes,
// driven through the public SDK and the built nefele binary. It has no
// non-test code.
package e2e
