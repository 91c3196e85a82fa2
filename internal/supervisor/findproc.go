package supervisor

import (
	"bytes"
	"os"
	"strconv"

	"github.com/nefele/nefele/internal/model"
)

// findByGPID looks for a live process whose environment says it is gpid of
// node nodeID and that leads its own session (its descendants inherit the
// environment but not the session): an agent that died between starting a
// process and recording its pid left it so. It returns its pid and start time.
func findByGPID(nodeID string, gpid model.GPID) (int, uint64, bool) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0, 0, false
	}
	want := []byte("\x00NEFELE_GPID=" + string(gpid) + "\x00")
	node := []byte("\x00NEFELE_NODE_ID=" + nodeID + "\x00")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || !isSessionLeader(pid) {
			continue
		}
		env, err := os.ReadFile("/proc/" + e.Name() + "/environ")
		env = append(append([]byte{0}, env...), 0)
		if err != nil || !bytes.Contains(env, want) || !bytes.Contains(env, node) {
			continue
		}
		if ticks, err := startTicks(pid); err == nil {
			return pid, ticks, true
		}
	}
	return 0, 0, false
}

func isSessionLeader(pid int) bool {
	f, err := statFields(pid)
	// f[3] is field 6, the session id.
	return err == nil && len(f) > 3 && f[3] == strconv.Itoa(pid)
}
