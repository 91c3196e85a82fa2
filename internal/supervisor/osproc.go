package supervisor

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nefele/nefele/internal/model"
)

// bootID returns the id of the running kernel boot.
func bootID() string {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// statFields returns the fields of /proc/PID/stat after the command field
// (which may hold spaces and parentheses): fields[0] is field 3, the state.
func statFields(pid int) ([]string, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return nil, err
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return nil, fmt.Errorf("parse /proc/%d/stat: no command field", pid)
	}
	return strings.Fields(string(b[i+1:])), nil
}

// startTicks returns the start time of pid in clock ticks since boot (field
// 22 of /proc/PID/stat).
func startTicks(pid int) (uint64, error) {
	fields, err := statFields(pid)
	if err != nil {
		return 0, err
	}
	if len(fields) < 20 {
		return 0, fmt.Errorf("parse /proc/%d/stat: %d fields", pid, len(fields))
	}
	return strconv.ParseUint(fields[19], 10, 64)
}

// openPidfd returns a pidfd for pid if pid is still the process that
// started at ticks; errNotSame otherwise.
func openPidfd(pid int, ticks uint64) (*os.File, error) {
	fd, err := unix.PidfdOpen(pid, unix.PIDFD_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("pidfd_open %d: %w", pid, err)
	}
	// Check the start time after opening: the pidfd now pins the process, so
	// a match proves it is the one we started, not a reused pid.
	got, err := startTicks(pid)
	if err != nil || got != ticks {
		unix.Close(fd)
		return nil, errNotSame
	}
	return os.NewFile(uintptr(fd), "pidfd:"+strconv.Itoa(pid)), nil
}

var errNotSame = errors.New("pid belongs to another process")

// waitReadable blocks, parked in the runtime's poller (no thread held), until
// the pidfd is readable, which happens when the process has exited.
func waitReadable(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var perr error
	err = rc.Read(func(fd uintptr) bool {
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		n, err := unix.Poll(fds, 0)
		if err != nil && !errors.Is(err, unix.EINTR) {
			perr = err
			return true
		}
		return n > 0
	})
	if err != nil {
		return err
	}
	return perr
}

// exitFromPidfd reads the exit status of a process that is not our child
// from its pidfd (PIDFD_GET_INFO, Linux 6.15 and later). It returns nil
// when the kernel cannot tell, as older kernels cannot. The status appears
// only once the process's new parent (init, or a subreaper) has reaped it,
// so it retries for up to adoptedExitWait.
func exitFromPidfd(f *os.File) *model.ExitStatus {
	rc, err := f.SyscallConn()
	if err != nil {
		return nil
	}
	for deadline := time.Now().Add(adoptedExitWait); time.Now().Before(deadline); {
		info := unix.PidfdInfo{Mask: unix.PIDFD_INFO_EXIT}
		rc.Control(func(fd uintptr) { err = unix.IoctlPidfdInfo(int(fd), &info) })
		if err == nil && info.Mask&unix.PIDFD_INFO_EXIT != 0 {
			e := exitStatus(syscall.WaitStatus(info.Exit_code))
			return &e
		}
		if err != nil && !errors.Is(err, unix.ESRCH) {
			return nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	return nil
}

// adoptedExitWait bounds the wait for the exit status of an adopted
// process. Most inits reap at once; some container and VM inits reap only
// every few seconds.
const adoptedExitWait = 5 * time.Second

// reap collects the exit status of our child pid, which must have exited.
func reap(pid int) model.ExitStatus {
	var ws syscall.WaitStatus
	for {
		_, err := syscall.Wait4(pid, &ws, 0, nil)
		if !errors.Is(err, syscall.EINTR) {
			if err != nil {
				return model.ExitStatus{Code: -1}
			}
			break
		}
	}
	return exitStatus(ws)
}

func exitStatus(ws syscall.WaitStatus) model.ExitStatus {
	if ws.Signaled() {
		return model.ExitStatus{Code: -1, Signal: model.SignalName(ws.Signal())}
	}
	return model.ExitStatus{Code: ws.ExitStatus()}
}

// signalGroup sends sig to the process group led by pid.
func signalGroup(pid int, sig syscall.Signal) error {
	if pid <= 0 {
		return fmt.Errorf("signal: bad pid %d", pid)
	}
	err := syscall.Kill(-pid, sig)
	if errors.Is(err, syscall.ESRCH) {
		return nil
	}
	return err
}

// lookPath finds the program of a command the way a shell would, in the
// PATH of env, and classifies failures as model.ErrNotFound (127) or
// model.ErrNotExecutable (126).
func lookPath(file, workdir string, env []string) (string, error) {
	if strings.Contains(file, "/") {
		path := file
		if !filepath.IsAbs(path) && workdir != "" {
			path = filepath.Join(workdir, path)
		}
		err := checkExecutable(file, path)
		if se, ok := err.(*model.SubjectError); ok && errors.Is(err, model.ErrNotFound) && !filepath.IsAbs(file) {
			dir := workdir
			if dir == "" {
				dir, _ = os.Getwd()
			}
			se.Msg += fmt.Sprintf(" (a relative path is taken from the working directory %s, the agent's unless --workdir: give an absolute path)", dir)
		}
		return file, err
	}
	pathEnv := "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			pathEnv = v
		}
	}
	var denied error
	for _, dir := range filepath.SplitList(pathEnv) {
		if dir == "" {
			dir = "."
		}
		path := filepath.Join(dir, file)
		err := checkExecutable(file, path)
		if err == nil {
			return path, nil
		}
		if errors.Is(err, model.ErrNotExecutable) && denied == nil {
			denied = err
		}
	}
	if denied != nil {
		return "", denied
	}
	return "", &model.SubjectError{Subject: file, Err: model.ErrNotFound,
		Msg: fmt.Sprintf("%s: executable not found in PATH (%s)", file, pathEnv)}
}

func checkExecutable(name, path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return &model.SubjectError{Subject: name, Err: model.ErrNotFound,
			Msg: fmt.Sprintf("%s: executable not found: no such file or directory", name)}
	}
	if st.IsDir() {
		return &model.SubjectError{Subject: name, Err: model.ErrNotExecutable,
			Msg: fmt.Sprintf("%s: not executable: is a directory", name)}
	}
	if unix.Access(path, unix.X_OK) != nil {
		return &model.SubjectError{Subject: name, Err: model.ErrNotExecutable,
			Msg: fmt.Sprintf("%s: not executable: permission denied", name)}
	}
	return nil
}

// startError classifies an error of os.StartProcess.
func startError(name string, err error) error {
	switch {
	case errors.Is(err, syscall.ENOENT):
		return &model.SubjectError{Subject: name, Err: model.ErrNotFound,
			Msg: fmt.Sprintf("%s: executable not found: %v", name, err)}
	case errors.Is(err, syscall.EACCES), errors.Is(err, syscall.ENOEXEC):
		return &model.SubjectError{Subject: name, Err: model.ErrNotExecutable,
			Msg: fmt.Sprintf("%s: not executable: %v", name, err)}
	}
	return &model.SubjectError{Subject: name, Err: model.ErrStart, Msg: fmt.Sprintf("start %s: %v", name, err)}
}
