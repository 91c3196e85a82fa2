// Package logfile keeps the log files of managed processes: one file per
// output stream, written by the process itself, rotated by size, and read back
// with Tail and Follow.
//
// A managed process writes its stdout and stderr directly to files the agent
// opened for it with Open; the agent is not in the data path, so a process
// keeps logging while its agent is down. Because the process holds the live
// file open, Rotate copies and truncates it instead of renaming it, and
// Follow survives that.
//
// The files of a log at path are path, the live file, and path.1, path.2, …
// its rotated copies, newest first. Readers need no Policy: they read the
// copies that exist, up to the first missing one.
//
// Rotate, Tail and Follow take turns on an advisory lock (flock) on the live
// file, so readers never see a rotation half done; the process writing the
// file takes no lock and is never blocked by them. They may be called from
// several goroutines and processes at once.
//
// The package is Linux-first: Follow uses inotify there and falls back to
// polling elsewhere. It imports only the standard library and
// golang.org/x/sys/unix; internal/supervisor and internal/agent import it.
package logfile
