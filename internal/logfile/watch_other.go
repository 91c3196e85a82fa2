//go:build !linux

package logfile

import "errors"

// A watcher would wake Follow on changes; without inotify, Follow polls.
type watcher struct{ C chan struct{} }

func newWatcher(path string) (*watcher, error) {
	return nil, errors.New("inotify: not supported on this system")
}

func (w *watcher) Close() error { return nil }
