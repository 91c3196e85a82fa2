package cli

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	nefelev1 "github.com/nefele/nefele/api/nefele/v1"
	nefele "github.com/nefele/nefele/sdk"
)

// processKeys are the keys of a process in ps -o json, by the spec.
var processKeys = []string{"attached", "command", "created_at", "ended_at", "exit_code", "gpid", "group", "name",
	"node", "pid", "reason", "replica", "restarts", "signal", "started_at", "state"}

func jsonKeys(t *testing.T, v any) map[string]any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestProcessJSON(t *testing.T) {
	p := &nefele.Process{Gpid: "p1k", Name: "web", State: nefelev1.State_STATE_BACKOFF, ExitCode: -1, Signal: "KILL",
		Spec: &nefele.Spec{Command: []string{"python", "-m", "http.server"}}}
	m := jsonKeys(t, toProcessJSON(p))
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if !slices.Equal(keys, processKeys) {
		t.Errorf("keys %v, want %v", keys, processKeys)
	}
	if m["state"] != "backoff" || m["gpid"] != "p1k" || m["signal"] != "KILL" || m["exit_code"] != -1.0 {
		t.Errorf("values: %v", m)
	}
	if cmd, ok := m["command"].([]any); !ok || len(cmd) != 3 || cmd[0] != "python" {
		t.Errorf("command = %#v, want an array of 3 strings", m["command"])
	}
}

func TestProcessJSONEmpty(t *testing.T) {
	b, _ := json.Marshal(toProcessesJSON(nil))
	if string(b) != "[]" {
		t.Errorf("empty list = %s, want []", b)
	}
	m := jsonKeys(t, toProcessJSON(nil))
	if cmd, ok := m["command"].([]any); !ok || len(cmd) != 0 {
		t.Errorf("command of an empty record = %#v, want []", m["command"])
	}
	if m["state"] != "unknown" {
		t.Errorf("state of an empty record = %v, want unknown", m["state"])
	}
}

func TestInspectJSON(t *testing.T) {
	p := &nefele.Process{Gpid: "p1", Failure: nefelev1.Reason_REASON_EXECUTABLE_NOT_FOUND,
		Spec: &nefele.Spec{Command: []string{"x"}, Restart: nefelev1.RestartPolicy_RESTART_POLICY_ON_FAILURE, StopTimeoutMs: 500}}
	m := jsonKeys(t, toInspectJSON(p))
	for _, k := range append(processKeys, "next_restart_at", "failure", "spec") {
		if _, ok := m[k]; !ok {
			t.Errorf("inspect JSON lacks %q", k)
		}
	}
	spec, _ := m["spec"].(map[string]any)
	if m["failure"] != "executable_not_found" || spec["restart"] != "on-failure" || spec["stop_timeout_ms"] != 500.0 {
		t.Errorf("inspect JSON = %v", m)
	}
	if env, ok := spec["env"].([]any); !ok || len(env) != 0 {
		t.Errorf("spec.env = %#v, want []", spec["env"])
	}
}

func TestNodeJSON(t *testing.T) {
	m := jsonKeys(t, toNodeJSON(&nefele.Node{Name: "n1"}))
	for _, k := range []string{"name", "address", "state", "pid", "server", "labels", "cpu", "memory_bytes",
		"max_procs", "processes", "version", "started_at"} {
		if _, ok := m[k]; !ok {
			t.Errorf("node JSON lacks %q", k)
		}
	}
	if labels, ok := m["labels"].(map[string]any); !ok || len(labels) != 0 {
		t.Errorf("labels = %#v, want {}", m["labels"])
	}
}

func TestFormatAge(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{-time.Second, "0s"}, {0, "0s"}, {5 * time.Second, "5s"}, {59*time.Second + 999*time.Millisecond, "59s"},
		{time.Minute, "1m"}, {3*time.Minute + 59*time.Second, "3m"}, {time.Hour, "1h"}, {23 * time.Hour, "23h"},
		{24 * time.Hour, "1d"}, {100 * 24 * time.Hour, "100d"},
	}
	for _, tt := range tests {
		if got := formatAge(tt.d); got != tt.want {
			t.Errorf("formatAge(%v) = %q, want %q", tt.d, got, tt.want)
		}
	}
}

func TestAge(t *testing.T) {
	now := testNow
	if got := age(now, now.Add(-90*time.Second).Format(time.RFC3339Nano)); got != "1m" {
		t.Errorf("age 90s ago = %q, want 1m", got)
	}
	for _, bad := range []string{"", "yesterday"} {
		if got := age(now, bad); got != "-" {
			t.Errorf("age(%q) = %q, want -", bad, got)
		}
	}
}

func TestPsState(t *testing.T) {
	next := testNow.Add(3 * time.Second).Format(time.RFC3339)
	tests := []struct {
		p    *nefele.Process
		want string
	}{
		{&nefele.Process{State: nefelev1.State_STATE_RUNNING}, "running"},
		{&nefele.Process{State: nefelev1.State_STATE_BACKOFF, NextRestartAt: next}, "backoff (3s)"},
		{&nefele.Process{State: nefelev1.State_STATE_BACKOFF}, "backoff"},
		{&nefele.Process{State: nefelev1.State_STATE_EXITED, NextRestartAt: next}, "exited"},
		{&nefele.Process{State: nefelev1.State_STATE_LOST}, "lost"},
	}
	for _, tt := range tests {
		if got := psState(testNow, tt.p); got != tt.want {
			t.Errorf("psState(%v) = %q, want %q", tt.p, got, tt.want)
		}
	}
}

func TestShellStatus(t *testing.T) {
	exited, failed := nefelev1.State_STATE_EXITED, nefelev1.State_STATE_FAILED
	tests := []struct {
		name string
		p    *nefele.Process
		want int
	}{
		{"exit 0", &nefele.Process{State: exited}, 0},
		{"exit 3", &nefele.Process{State: exited, ExitCode: 3}, 3},
		{"killed", &nefele.Process{State: exited, ExitCode: -1, Signal: "KILL"}, 137},
		{"terminated by number", &nefele.Process{State: exited, ExitCode: -1, Signal: "15"}, 143},
		{"unknown signal", &nefele.Process{State: exited, ExitCode: -1, Signal: "NOPE"}, 128},
		{"unknown status", &nefele.Process{State: exited, ExitCode: -1}, 1},
		{"not found", &nefele.Process{State: failed, Failure: nefelev1.Reason_REASON_EXECUTABLE_NOT_FOUND}, 127},
		{"not executable", &nefele.Process{State: failed, Failure: nefelev1.Reason_REASON_NOT_EXECUTABLE}, 126},
		{"gave up", &nefele.Process{State: failed, ExitCode: 2}, 2},
		{"failed zero", &nefele.Process{State: failed}, 1},
		{"lost", &nefele.Process{State: nefelev1.State_STATE_LOST, ExitCode: -1}, 1},
	}
	for _, tt := range tests {
		if got := shellStatus(tt.p); got != tt.want {
			t.Errorf("%s: shellStatus = %d, want %d", tt.name, got, tt.want)
		}
	}
	group := []*nefele.Process{{State: exited}, {State: exited, ExitCode: 4}, {State: exited, ExitCode: 5}}
	if got := groupStatus(group); got != 4 {
		t.Errorf("groupStatus = %d, want the first non-zero, 4", got)
	}
}

func TestFormatBytes(t *testing.T) {
	for n, want := range map[int64]string{0: "0B", 512: "512B", 1536: "1.5KiB", 16 << 30: "16.0GiB"} {
		if got := formatBytes(n); got != want {
			t.Errorf("formatBytes(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestTruncate(t *testing.T) {
	if got := truncate("abcdefghij", 6); got != "abc..." {
		t.Errorf("truncate = %q", got)
	}
	if got := truncate("abc", 6); got != "abc" {
		t.Errorf("truncate = %q", got)
	}
}
