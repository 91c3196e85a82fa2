package agent

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/gofrs/flock"
)

// lockDataDir takes the data dir's lock, so that two agents never share it.
func lockDataDir(dir string) (*flock.Flock, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("data dir %s: %w", dir, err)
	}
	path := filepath.Join(dir, "LOCK")
	l := flock.New(path)
	ok, err := l.TryLock()
	if err != nil {
		return nil, fmt.Errorf("lock data dir %s: %w", dir, err)
	}
	if !ok {
		owner := "another agent"
		if b, err := os.ReadFile(path + ".pid"); err == nil {
			owner = "another agent (pid " + strings.TrimSpace(string(b)) + ")"
		}
		return nil, fmt.Errorf("data dir %s is in use by %s: stop it, or give this one its own --data-dir", dir, owner)
	}
	if err := os.WriteFile(path+".pid", []byte(strconv.Itoa(os.Getpid())+"\n"), 0o640); err != nil {
		l.Unlock()
		return nil, fmt.Errorf("lock data dir %s: %w", dir, err)
	}
	return l, nil
}

// nodeName returns the node name kept in the data dir, or keeps and returns
// want (or the host name when want is empty) on first start.
func nodeName(dir, want string) (string, error) {
	path := filepath.Join(dir, "node-name")
	if b, err := os.ReadFile(path); err == nil {
		name := strings.TrimSpace(string(b))
		if want != "" && want != name {
			return "", fmt.Errorf("data dir %s belongs to node %q, not %q: use --name %s or another --data-dir", dir, name, want, name)
		}
		return name, nil
	}
	name := want
	if name == "" {
		host, err := os.Hostname()
		if err != nil || host == "" {
			host = "node"
		}
		name = sanitize(host)
	}
	if err := os.WriteFile(path, []byte(name+"\n"), 0o640); err != nil {
		return "", fmt.Errorf("data dir %s: %w", dir, err)
	}
	return name, nil
}

func sanitize(host string) string {
	host = strings.ToLower(strings.SplitN(host, ".", 2)[0])
	b := []byte(host)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			b[i] = '-'
		}
	}
	s := strings.Trim(string(b), "-")
	if s == "" {
		return "node"
	}
	return s
}

// nodeID returns the random id kept in the data dir, made on first start. It
// tells this agent's processes and cgroups from those of other agents on
// the same host, and stays with the data dir wherever it is copied.
func nodeID(dir string) (string, error) {
	path := filepath.Join(dir, "node-id")
	if b, err := os.ReadFile(path); err == nil {
		return strings.TrimSpace(string(b)), nil
	}
	var raw [6]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", fmt.Errorf("node id: %w", err)
	}
	id := hex.EncodeToString(raw[:])
	if err := os.WriteFile(path, []byte(id+"\n"), 0o640); err != nil {
		return "", fmt.Errorf("data dir %s: %w", dir, err)
	}
	return id, nil
}
