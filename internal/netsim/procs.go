package netsim

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// pidsIn returns the processes whose network namespace is the one bound at
// path; none when path is not a namespace.
func pidsIn(path string) []int {
	var want syscall.Stat_t
	if err := syscall.Stat(path, &want); err != nil {
		return nil
	}
	var out []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		var st syscall.Stat_t
		if syscall.Stat("/proc/"+e.Name()+"/ns/net", &st) == nil && st.Dev == want.Dev && st.Ino == want.Ino {
			out = append(out, pid)
		}
	}
	return out
}

// killAll SIGKILLs the processes of the namespace at path until none is
// left (a process may fork while its siblings die) and every one it killed
// has exited: a dying process leaves its namespace before it is a zombie.
// It also kills the exec helpers on their way into the namespace, looking
// for them first: one that it misses has entered already.
func killAll(path string) error {
	deadline := time.Now().Add(10 * time.Second)
	killed := map[int]bool{}
	for {
		pids := entering(path)
		pids = append(pids, pidsIn(path)...)
		for pid := range killed {
			if !exited(pid) {
				pids = append(pids, pid)
			}
		}
		if len(pids) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("processes %v outlived SIGKILL for 10s", pids)
		}
		for _, pid := range pids {
			syscall.Kill(pid, syscall.SIGKILL)
			killed[pid] = true
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// entering returns the exec helpers (see Net.Wrap) that are about to enter
// the namespace at path.
func entering(path string) []int {
	want := []byte("\x00" + helperFlag + "exec\x00" + path + "\x00")
	var out []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		if b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline"); err == nil && bytes.Contains(b, want) {
			out = append(out, pid)
		}
	}
	return out
}

// exited reports whether pid is gone or a zombie.
func exited(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	i := bytes.LastIndexByte(b, ')')
	return err != nil || i < 0 || len(b) < i+3 || b[i+2] == 'Z' || b[i+2] == 'X'
}

// removeStale removes what Nets of test processes that no longer exist
// left behind (a test binary killed before its cleanup ran): it kills the
// processes in their namespaces and deletes the namespaces.
func removeStale() {
	entries, _ := os.ReadDir(netnsDir)
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), "netsim-")
		if !ok {
			continue
		}
		pidStr, _, _ := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(pidStr)
		if err != nil || pid == os.Getpid() {
			continue
		}
		if _, err := os.Stat("/proc/" + pidStr); err == nil || pid <= 0 {
			continue // its test still runs
		}
		killAll(filepath.Join(netnsDir, e.Name()))
		exec.Command("ip", "netns", "del", e.Name()).Run()
	}
}
