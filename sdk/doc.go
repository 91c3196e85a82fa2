// Package nefele is the public Go SDK of Nefele: the cluster client used by
// the nefele CLI, by tests and by users' programs, inside or outside the
// cluster. It talks to any agent over the public API (package
// api/nefele/v1) and imports nothing internal.
//
// A program managed by Nefele connects with Connect, which reads NEFELE_ADDR
// from the environment the agent gives it; any other program uses Dial with
// an agent's address:
//
//	c, err := nefele.Dial("127.0.0.1:7070")
//	procs, err := c.Spawn(ctx, &nefele.Spec{Command: []string{"sleep", "60"}}, nefele.SpawnOptions{})
//
// Errors that come from the API can be tested with errors.Is against the
// sentinels of this package (ErrNoProcess, ErrNotFound, …).
package nefele
