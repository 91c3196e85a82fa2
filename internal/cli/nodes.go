package cli

import (
	"strconv"
	"time"

	"github.com/spf13/cobra"

	nefele "github.com/nefele/nefele/sdk"
)

func (c *cli) newNodesCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "nodes",
		Short: "List the nodes of the cluster",
		Long: `nodes lists every known agent of the cluster.

Columns: NAME, ADDRESS, STATE (up, down, or drained: up but taking no new
processes), PID (the agent's), SERVER (yes when it is a member of the
store's quorum), CPU and MEMORY (what its live processes ask, over what the
node offers), PROCS (processes running there, over its limit when it has
one), AGE (since the agent started) and SEEN (how long ago the node was
last known up: "now" while it is up). -o json prints an array of records.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			client, err := c.dial()
			if err != nil {
				return err
			}
			defer client.Close()
			nodes, err := client.Nodes(cmd.Context())
			if err != nil {
				return err
			}
			return c.printNodes(nodes)
		},
	}
}

// nodeJSON is the JSON form of a node.
type nodeJSON struct {
	Name        string            `json:"name"`
	Address     string            `json:"address"`
	State       string            `json:"state"`
	PID         int32             `json:"pid"`
	Server      bool              `json:"server"`
	Labels      map[string]string `json:"labels"`
	CPU         int32             `json:"cpu"`
	MemoryBytes int64             `json:"memory_bytes"`
	MaxProcs    int32             `json:"max_procs"`
	Processes   int32             `json:"processes"`
	Drained     bool              `json:"drained"`
	// What the node's live processes ask, summed.
	AllocatedCPUMilli    int64  `json:"allocated_cpu_milli"`
	AllocatedMemoryBytes int64  `json:"allocated_memory_bytes"`
	Version              string `json:"version"`
	StartedAt            string `json:"started_at"`
	LastSeen             string `json:"last_seen"`
}

func toNodeJSON(n *nefele.Node) nodeJSON {
	labels := n.GetLabels()
	if labels == nil {
		labels = map[string]string{}
	}
	return nodeJSON{
		Name: n.GetName(), Address: n.GetAddress(), State: n.GetState(), PID: n.GetPid(),
		Server: n.GetServer(), Labels: labels, CPU: n.GetCpu(), MemoryBytes: n.GetMemoryBytes(),
		MaxProcs: n.GetMaxProcs(), Processes: n.GetProcesses(), Version: n.GetVersion(),
		StartedAt: n.GetStartedAt(), LastSeen: n.GetLastSeen(), Drained: n.GetDrained(),
		AllocatedCPUMilli: n.GetAllocatedCpuMilli(), AllocatedMemoryBytes: n.GetAllocatedMemoryBytes(),
	}
}

func (c *cli) printNodes(nodes []*nefele.Node) error {
	if c.json() {
		out := make([]nodeJSON, 0, len(nodes))
		for _, n := range nodes {
			out = append(out, toNodeJSON(n))
		}
		return writeJSON(c.stdout, out)
	}
	now := c.now()
	t := newTable(c.stdout, "NAME", "ADDRESS", "STATE", "PID", "SERVER", "CPU", "MEMORY", "PROCS", "AGE", "SEEN")
	for _, n := range nodes {
		t.row(nodeRow(now, n)...)
	}
	return t.flush()
}

func nodeRow(now time.Time, n *nefele.Node) []string {
	server, mem, cpu, procs := "no", "-", "-", strconv.Itoa(int(n.GetProcesses()))
	if n.GetServer() {
		server = "yes"
	}
	if n.GetMemoryBytes() > 0 {
		mem = formatBytes(n.GetAllocatedMemoryBytes()) + "/" + formatBytes(n.GetMemoryBytes())
	}
	if n.GetCpu() > 0 {
		cpu = formatCPU(n.GetAllocatedCpuMilli()) + "/" + strconv.Itoa(int(n.GetCpu()))
	}
	if n.GetMaxProcs() > 0 {
		procs += "/" + strconv.Itoa(int(n.GetMaxProcs()))
	}
	pid := "-"
	if n.GetPid() > 0 {
		pid = strconv.Itoa(int(n.GetPid()))
	}
	seen, state := "now", n.GetState()
	if state != "up" {
		seen = age(now, n.GetLastSeen()) + " ago"
	} else if n.GetDrained() {
		state = "drained"
	}
	return []string{n.GetName(), dash(n.GetAddress()), state, pid, server, cpu, mem, procs,
		age(now, n.GetStartedAt()), seen}
}

// formatCPU writes millicores as whole cores ("2") or in millicores ("1500m").
func formatCPU(milli int64) string {
	if milli%1000 == 0 {
		return strconv.FormatInt(milli/1000, 10)
	}
	return strconv.FormatInt(milli, 10) + "m"
}
