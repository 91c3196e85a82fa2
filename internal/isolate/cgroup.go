package isolate

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Tracker makes one cgroup v2 per process under a base cgroup of the agent's.
// A Tracker with an empty base is disabled: every method is a no-op.
type Tracker struct {
	base string
}

// NewTracker finds the cgroup v2 hierarchy and makes (or reuses) the base
// cgroup named name (unique per agent) beside the agent's own cgroup. When
// the host has no writable cgroup v2 it returns a disabled Tracker and the
// reason.
func NewTracker(name string) (*Tracker, error) {
	mount, err := cgroup2Mount()
	if err != nil {
		return &Tracker{}, err
	}
	own, err := ownCgroup()
	if err != nil {
		return &Tracker{}, err
	}
	// Beside, not below, our own cgroup: a cgroup with processes may not
	// have children that use controllers, and the agent's own may be
	// managed by someone else (systemd).
	parent := filepath.Dir(filepath.Join(mount, own))
	if own == "/" {
		parent = mount
	}
	base := filepath.Join(parent, name)
	if err := os.MkdirAll(base, 0o755); err != nil {
		return &Tracker{}, fmt.Errorf("cgroup %s: %w", base, err)
	}
	return &Tracker{base: base}, nil
}

// Base returns the path of the base cgroup ("" when disabled).
func (t *Tracker) Base() string {
	if !t.Enabled() {
		return ""
	}
	return t.base
}

// Close removes the base cgroup if no process cgroup is left in it.
func (t *Tracker) Close() error {
	if !t.Enabled() {
		return nil
	}
	if err := os.Remove(t.base); err != nil && !errors.Is(err, os.ErrNotExist) && !errors.Is(err, syscall.EBUSY) && !errors.Is(err, syscall.ENOTEMPTY) {
		return err
	}
	return nil
}

// Enabled reports whether processes are tracked in cgroups.
func (t *Tracker) Enabled() bool { return t != nil && t.base != "" }

// Group is the cgroup of one process.
type Group struct {
	path string
}

// Create makes the cgroup of name and returns it with an open directory fd
// for SysProcAttr.CgroupFD (the child is cloned straight into it); the
// caller closes the fd once the child runs.
func (t *Tracker) Create(name string) (*Group, int, error) {
	if !t.Enabled() {
		return nil, -1, nil
	}
	path := filepath.Join(t.base, name)
	if err := os.Mkdir(path, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return nil, -1, fmt.Errorf("cgroup %s: %w", path, err)
	}
	fd, err := unix.Open(path, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, -1, fmt.Errorf("cgroup %s: %w", path, err)
	}
	return &Group{path: path}, fd, nil
}

// Open returns the cgroup of name if it exists (after an agent restart).
func (t *Tracker) Open(name string) *Group {
	if !t.Enabled() {
		return nil
	}
	path := filepath.Join(t.base, name)
	if st, err := os.Stat(path); err != nil || !st.IsDir() {
		return nil
	}
	return &Group{path: path}
}

// Kill SIGKILLs every process in the group (cgroup.kill, Linux 5.14+, or
// one by one from cgroup.procs on older kernels).
func (g *Group) Kill() error {
	if g == nil {
		return nil
	}
	err := os.WriteFile(filepath.Join(g.path, "cgroup.kill"), []byte("1"), 0)
	if err == nil {
		return nil
	}
	pids, err := g.pids()
	for _, pid := range pids {
		syscall.Kill(pid, syscall.SIGKILL)
	}
	return err
}

// Signal sends sig to every process in the group.
func (g *Group) Signal(sig syscall.Signal) error {
	if g == nil {
		return nil
	}
	pids, err := g.pids()
	for _, pid := range pids {
		syscall.Kill(pid, sig)
	}
	return err
}

func (g *Group) pids() ([]int, error) {
	f, err := os.Open(filepath.Join(g.path, "cgroup.procs"))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []int
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if pid, err := strconv.Atoi(strings.TrimSpace(sc.Text())); err == nil {
			out = append(out, pid)
		}
	}
	return out, sc.Err()
}

// Empty reports whether no process is left in the group.
func (g *Group) Empty() bool {
	if g == nil {
		return true
	}
	pids, err := g.pids()
	return err != nil || len(pids) == 0
}

// Remove kills what is left in the group and removes it, waiting up to
// one second for the kernel to empty it.
func (g *Group) Remove() error {
	if g == nil {
		return nil
	}
	// Mostly the group is empty already: try that first.
	err := os.Remove(g.path)
	if err == nil || errors.Is(err, os.ErrNotExist) {
		return nil
	}
	g.Kill()
	for deadline := time.Now().Add(time.Second); ; {
		err = os.Remove(g.path)
		if err == nil || errors.Is(err, os.ErrNotExist) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("remove cgroup %s: %w", g.path, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// cgroup2Mount returns where the cgroup v2 hierarchy is mounted.
func cgroup2Mount() (string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// ... mountpoint ... - fstype source options
		left, right, ok := strings.Cut(sc.Text(), " - ")
		if !ok || !strings.HasPrefix(right, "cgroup2 ") {
			continue
		}
		fields := strings.Fields(left)
		if len(fields) >= 5 && unix.Access(fields[4], unix.W_OK) == nil {
			return fields[4], nil
		}
	}
	return "", errors.New("no writable cgroup v2 hierarchy")
}

// ownCgroup returns the agent's cgroup v2 path ("0::/path" in /proc/self/cgroup).
func ownCgroup() (string, error) {
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "0::"); ok {
			return rest, nil
		}
	}
	return "", errors.New("no cgroup v2 entry in /proc/self/cgroup")
}
