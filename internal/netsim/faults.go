package netsim

import (
	"fmt"
	"os/exec"
	"slices"
	"strings"
)

// Partition silently drops every frame between host i and the other hosts
// at the bridge, both ways, until Heal(i): both sides see timeouts, not
// refusals. It fails the test when the rule cannot be set.
func (n *Net) Partition(i int) {
	n.t.Helper()
	n.set(i, func() { n.cut[i] = true })
}

// Heal undoes Partition(i); a host that is not partitioned is left as it is.
func (n *Net) Heal(i int) {
	n.t.Helper()
	n.set(i, func() { delete(n.cut, i) })
}

// Loss drops pct percent (0 to 100, in steps of 0.01) of the frames that
// host i sends, at random, at the bridge; 0 ends the loss. Frames to host i
// are not dropped: give its peers a Loss too for loss both ways.
func (n *Net) Loss(i int, pct float64) {
	n.t.Helper()
	if pct < 0 || pct > 100 {
		n.t.Fatalf("netsim: loss %v%%, want 0 to 100", pct)
	}
	n.set(i, func() {
		if pct == 0 {
			delete(n.loss, i)
		} else {
			n.loss[i] = pct
		}
	})
}

// Reset ends every partition, loss and delay of the net.
func (n *Net) Reset() {
	n.t.Helper()
	for i := 1; i <= n.n; i++ {
		n.Delay(i, 0)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	clear(n.cut)
	clear(n.loss)
	if err := n.applyLocked(); err != nil {
		n.t.Fatalf("netsim: reset: %v", err)
	}
}

// set changes the bridge's faults with change and applies them.
func (n *Net) set(i int, change func()) {
	n.t.Helper()
	n.check(i)
	n.mu.Lock()
	defer n.mu.Unlock()
	change()
	if err := n.applyLocked(); err != nil {
		n.t.Fatalf("netsim: %v", err)
	}
}

// apply writes the bridge's faults to the switch's nftables table.
func (n *Net) apply() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.applyLocked()
}

// applyLocked replaces the rules of the switch's nftables table with the
// ones cut and loss call for, in one transaction.
func (n *Net) applyLocked() error {
	cmd := exec.Command(self(), helperFlag+"exec", n.path(n.sw()), "--", "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(n.rulesLocked())
	return run(cmd)
}

// rulesLocked renders the nftables script of the bridge's faults.
func (n *Net) rulesLocked() string {
	var b strings.Builder
	b.WriteString("add table bridge netsim\nflush table bridge netsim\n")
	b.WriteString("table bridge netsim {\n\tchain forward {\n\t\ttype filter hook forward priority -10; policy accept;\n")
	for _, i := range sortedKeys(n.cut) {
		fmt.Fprintf(&b, "\t\tiifname \"vh%d\" drop\n\t\toifname \"vh%d\" drop\n", i, i)
	}
	for _, i := range sortedKeys(n.loss) {
		fmt.Fprintf(&b, "\t\tiifname \"vh%d\" numgen random mod 10000 < %d drop\n", i, int(n.loss[i]*100+0.5))
	}
	b.WriteString("\t}\n}\n")
	return b.String()
}

func sortedKeys[V any](m map[int]V) []int {
	keys := make([]int, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
