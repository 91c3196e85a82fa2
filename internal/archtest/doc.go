// Package archtest holds the test that keeps Nefele's dependency direction:
// it lists every package of the module with `go list` and fails when one
// imports what the table of rules in archtest_test.go forbids (sdk reaching
// into internal/, pure packages doing I/O, etcd beyond the packages that own
// it, "testing" outside tests), or when a package has no doc comment.
//
// To change the architecture, change the table, with the reason in its why.
// The package has no code besides its test; nothing imports it.
package archtest
