package cli

import (
	"github.com/spf13/cobra"

	nefele "github.com/nefele/nefele/sdk"
)

// placeFlags are the placement flags of run and exec. The agent parses and
// checks their values (one parser, shared with the API's other clients).
type placeFlags struct {
	cpu, memory, node string
	constraints       []string
}

func (p *placeFlags) add(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&p.cpu, "cpu", "", "CPU the process asks of its node, like 0.5, 500m or 2")
	fl.StringVar(&p.memory, "memory", "", "memory the process asks of its node, like 512Mi or 1Gi")
	fl.StringArrayVar(&p.constraints, "constraint", nil, "run only on nodes whose labels match key=value or key!=value (repeatable)")
	fl.StringVar(&p.node, "node", "", "run on the node of this `NAME`")
}

func (p *placeFlags) apply(s *nefele.Spec) {
	s.Cpu, s.Memory, s.Constraints, s.Node = p.cpu, p.memory, p.constraints, p.node
}
