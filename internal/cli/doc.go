// Package cli is the nefele command line: the cobra command tree behind
// cmd/nefele. It talks to agents only through the public SDK (package sdk,
// imported as nefele), like any other client; the one exception is the dev
// command, which runs an agent in-process through internal/agent.
//
// Main is what cmd/nefele calls. Tests drive the commands in-process with an
// App whose streams and environment they choose, and read the exit code that
// Run returns; nothing in this package calls os.Exit:
//
//	var out, errs bytes.Buffer
//	app := &cli.App{Stdout: &out, Stderr: &errs, Getenv: func(string) string { return "" }}
//	code := app.Run(ctx, []string{"--addr", addr, "ps", "-o", "json"})
//
// Exit codes: 0 success, 1 failure, 2 bad usage (unknown command or flag,
// bad flag value, missing argument), 126 and 127 for a command that is not
// executable or not found; exec and wait exit with the process's own status.
//
// Only cmd/nefele imports this package.
package cli
