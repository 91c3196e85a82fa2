package logfile

import (
	"fmt"
	"strconv"
)

// Policy bounds the disk a log takes: the live file plus Files-1 rotated
// copies, each of about MaxBytes.
type Policy struct {
	// MaxBytes is the size above which Rotate rotates the live file. A
	// rotated copy may exceed it by what was written while Rotate ran, and the
	// live file by what was written between two calls of Rotate.
	MaxBytes int64
	// Files is the number of files kept, the live one included: path,
	// path.1, …, path.(Files-1). With 1, rotation discards the output.
	Files int
}

// DefaultPolicy keeps about 30 MiB per stream: the live file and two copies
// of 10 MiB.
var DefaultPolicy = Policy{MaxBytes: 10 << 20, Files: 3}

// Validate reports whether p can be used by Rotate.
func (p Policy) Validate() error {
	if p.MaxBytes <= 0 {
		return fmt.Errorf("log policy: max bytes %d, want > 0", p.MaxBytes)
	}
	if p.Files < 1 {
		return fmt.Errorf("log policy: files %d, want >= 1", p.Files)
	}
	return nil
}

// copyName returns the name of the k-th rotated copy of the log at path
// (k >= 1, 1 the newest).
func copyName(path string, k int) string {
	return path + "." + strconv.Itoa(k)
}
