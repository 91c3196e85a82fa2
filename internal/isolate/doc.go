// Package isolate puts processes into cgroups. For now it tracks each
// managed process in a cgroup v2 of its own, so that stop and kill reach
// every descendant, even one that left the process group with setsid.
// Resource limits (v2, and v1 where a host still has it) come with the
// issue that adds them. internal/supervisor uses it; internal/agent only makes the Tracker.
package isolate
