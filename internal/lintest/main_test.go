package lintest

import (
	"flag"
	"testing"

	"github.com/nefele/nefele/internal/netsim"
	"github.com/nefele/nefele/internal/testcluster"
)

func TestMain(m *testing.M) {
	netsim.Init()
	// The tests spend their time in paced workloads and in faults, not on
	// a CPU: run all three at once, even where -parallel defaults to 2
	// (GOMAXPROCS), to keep the package near 30 s. A -parallel on the
	// command line still wins.
	flag.Set("test.parallel", "3")
	testcluster.Main(m)
}
