package netsim

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// helperFlag starts the first argument of a re-executed test binary:
// "-netsim.helper=exec" or "-netsim.helper=delayq". It looks like a flag so
// that a binary whose TestMain forgot Init fails at flag parsing instead of
// running its tests again.
const helperFlag = "-netsim.helper="

// initCalled records that Init ran, so that New can tell a TestMain
// without it from a working one.
var initCalled atomic.Bool

// Init runs the helper that the harness re-executed this test binary as,
// and exits; in any other process it returns at once. Call it first thing
// in TestMain, before m.Run:
//
//	func TestMain(m *testing.M) {
//		netsim.Init()
//		testcluster.Main(m)
//	}
func Init() {
	initCalled.Store(true)
	if len(os.Args) < 2 || !strings.HasPrefix(os.Args[1], helperFlag) {
		return
	}
	kind, args := strings.TrimPrefix(os.Args[1], helperFlag), os.Args[2:]
	var err error
	switch kind {
	case "exec":
		err = execIn(args)
	case "delayq":
		err = runDelayQueue(args)
	default:
		err = fmt.Errorf("unknown helper %q", kind)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "netsim %s: %v\n", kind, err)
		os.Exit(1)
	}
	os.Exit(0)
}

// Main is a TestMain for packages that need nothing else:
// func TestMain(m *testing.M) { netsim.Main(m) }.
func Main(m *testing.M) {
	Init()
	os.Exit(m.Run())
}

// self is the path of the running test binary.
func self() string {
	exe, err := os.Executable()
	if err != nil {
		return os.Args[0]
	}
	return exe
}

// execIn enters the network namespace args[0] and execs args[2:] (args[1]
// is "--"). Only this thread enters it, and execve keeps its namespaces
// for the whole new program, with this process's pid.
func execIn(args []string) error {
	if len(args) < 3 || args[1] != "--" {
		return fmt.Errorf("usage: %sexec NETNS -- CMD [ARGS...]", helperFlag)
	}
	path, err := exec.LookPath(args[2])
	if err != nil {
		return err
	}
	runtime.LockOSThread() // never unlocked: the thread is in another namespace
	if err := setns(args[0]); err != nil {
		return err
	}
	return syscall.Exec(path, args[2:], os.Environ())
}

// setns moves the calling thread into the network namespace at path.
func setns(path string) error {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", path, err)
	}
	defer unix.Close(fd)
	if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("setns %s: %w", path, err)
	}
	return nil
}
