package logfile

import (
	"os"

	"golang.org/x/sys/unix"
)

// A watcher turns inotify IN_MODIFY events on one file into wake-ups.
type watcher struct {
	// C receives after the file was modified. It is buffered and coalescing:
	// one wake-up may stand for many writes.
	C    chan struct{}
	f    *os.File
	done chan struct{} // closed when run returns
}

func newWatcher(path string) (*watcher, error) {
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return nil, os.NewSyscallError("inotify_init1", err)
	}
	if _, err := unix.InotifyAddWatch(fd, path, unix.IN_MODIFY); err != nil {
		unix.Close(fd)
		return nil, &os.PathError{Op: "inotify_add_watch", Path: path, Err: err}
	}
	// A non-blocking fd makes a pollable os.File: Read parks in the runtime
	// poller, and Close wakes it.
	w := &watcher{C: make(chan struct{}, 1), f: os.NewFile(uintptr(fd), "inotify"), done: make(chan struct{})}
	go w.run()
	return w, nil
}

func (w *watcher) run() {
	defer close(w.done)
	buf := make([]byte, 4096) // events on a file carry no name: many fit
	for {
		if _, err := w.f.Read(buf); err != nil {
			return // closed; or unexpected, and the poll timer takes over
		}
		select {
		case w.C <- struct{}{}:
		default:
		}
	}
}

// Close stops the watcher and waits for its goroutine to return.
func (w *watcher) Close() error {
	err := w.f.Close()
	<-w.done
	return err
}
