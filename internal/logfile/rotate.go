package logfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// copyPasses bounds how many times Rotate copies the live file again to catch
// up with what the process wrote during the previous pass.
const copyPasses = 4

// Open opens the live file of the log at path for a process to write its
// output to, creating the file (mode 0640) and its directory (0750) if
// needed. The file is opened O_WRONLY|O_APPEND: Rotate relies on O_APPEND, so
// that after the truncate the process's next write lands at offset 0 instead
// of leaving a hole. The caller hands the file to the process (as
// exec.Cmd.Stdout, say) and closes its own copy once the process has started.
func Open(path string) (*os.File, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, err
	}
	return os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
}

// Rotate rotates the log at path if its live file is larger than p.MaxBytes,
// and reports whether it did. It copies and truncates rather than renames,
// because the process keeps the live file open and writing to it:
//
//  1. remove the oldest copy, path.(p.Files-1), and any copies beyond it left
//     by a policy with more files;
//  2. rename path.k to path.(k+1), for k from p.Files-2 down to 1;
//  3. copy the live file to path.1 (written to path.1.tmp, then renamed),
//     copying again while the live file has grown during the last pass;
//  4. truncate the live file to zero.
//
// Bytes the process writes between the end of the last copy pass and the
// truncate are lost: a window of microseconds, inherent to copy-truncate,
// that no one but the writer could close. The window may cut a line, whose
// start then ends path.1. If the process writes faster than Rotate can catch
// up, Rotate truncates after a few passes and the window is one pass wide. With p.Files == 1, steps 2 and 3
// are skipped and the output is discarded.
//
// A missing live file is not an error; Rotate reports false. Rotate holds the
// log's lock exclusively from step 1 to step 4, so Tail and Follow never see
// a rotation half done; it may wait for them while they hold it.
func Rotate(path string, p Policy) (bool, error) {
	if err := p.Validate(); err != nil {
		return false, fmt.Errorf("rotate %s: %w", path, err)
	}
	live, err := os.OpenFile(path, os.O_RDWR, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("rotate: %w", err)
	}
	defer live.Close() // also releases the lock
	if err := flock(live, unix.LOCK_EX); err != nil {
		return false, fmt.Errorf("rotate %s: lock: %w", path, err)
	}
	fi, err := live.Stat()
	if err != nil {
		return false, fmt.Errorf("rotate: %w", err)
	}
	if fi.Size() <= p.MaxBytes {
		return false, nil
	}
	if err := rotateLocked(live, path, p.Files); err != nil {
		return false, fmt.Errorf("rotate: %w", err)
	}
	return true, nil
}

// rotateLocked does steps 1 to 4 of Rotate; the caller holds the lock on live.
func rotateLocked(live *os.File, path string, files int) error {
	if err := shift(path, files); err != nil {
		return err
	}
	if files > 1 {
		if err := copyLive(live, copyName(path, 1)); err != nil {
			return err
		}
	}
	return live.Truncate(0)
}

// shift makes room for a new path.1: it removes path.(files-1) and the copies
// after it while they exist, then renames path.k to path.(k+1) for k from
// files-2 down to 1.
func shift(path string, files int) error {
	for k := max(files-1, 1); ; k++ {
		err := os.Remove(copyName(path, k))
		if errors.Is(err, fs.ErrNotExist) && k >= files {
			break
		}
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	for k := files - 2; k >= 1; k-- {
		err := os.Rename(copyName(path, k), copyName(path, k+1))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}

// copyLive copies live, from offset 0, to a new file dst, which appears
// complete or not at all.
func copyLive(live *os.File, dst string) error {
	tmp := dst + ".tmp"
	out, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return err
	}
	err = copyToEnd(out, live)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, dst)
}

// copyToEnd copies src to out from src's offset until a pass ends at src's
// current size, or copyPasses passes have run.
func copyToEnd(out, src *os.File) error {
	var copied int64
	for range copyPasses {
		n, err := io.Copy(out, src) // copy_file_range, where the kernel can
		if err != nil {
			return err
		}
		copied += n
		fi, err := src.Stat()
		if err != nil {
			return err
		}
		if fi.Size() <= copied {
			return nil
		}
	}
	return nil
}

// flock applies or releases (how: unix.LOCK_SH, LOCK_EX or LOCK_UN) the log's
// advisory lock through f, an open description of the live file.
func flock(f *os.File, how int) error {
	for {
		err := unix.Flock(int(f.Fd()), how)
		if err != unix.EINTR {
			return err
		}
	}
}
