package cli

import (
	"fmt"
	"runtime"

	"github.com/spf13/cobra"
)

func (c *cli) newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the versions of this client and of the agent",
		Long: `version prints the version of this client and, when an agent answers at
--addr, the agent's; an agent that does not answer is noted on stderr and is
not a failure. -o json prints {"client": …, "go": …, "agent": {"version",
"node", "go"} or null}.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			agent, agentErr := c.agentVersion(cmd)
			if c.json() {
				return writeJSON(c.stdout, versionJSON{Client: Version, Go: runtime.Version(), Agent: agent})
			}
			fmt.Fprintf(c.stdout, "client: %s (%s)\n", Version, runtime.Version())
			if agent != nil {
				fmt.Fprintf(c.stdout, "agent:  %s (%s, node %s)\n", agent.Version, agent.Go, agent.Node)
			}
			if agentErr != nil {
				fmt.Fprintf(c.stderr, "nefele: version: %v\n", agentErr)
			}
			return nil
		},
	}
}

// versionJSON is the JSON form of version.
type versionJSON struct {
	Client string            `json:"client"`
	Go     string            `json:"go"`
	Agent  *agentVersionJSON `json:"agent"`
}

type agentVersionJSON struct {
	Version string `json:"version"`
	Node    string `json:"node"`
	Go      string `json:"go"`
}

// agentVersion asks the agent at --addr for its version.
func (c *cli) agentVersion(cmd *cobra.Command) (*agentVersionJSON, error) {
	client, err := c.dial()
	if err != nil {
		return nil, err
	}
	defer client.Close()
	v, err := client.Version(cmd.Context())
	if err != nil {
		return nil, err
	}
	return &agentVersionJSON{Version: v.GetVersion(), Node: v.GetNode(), Go: v.GetGoVersion()}, nil
}
