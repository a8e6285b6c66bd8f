package smspool

import (
	"os"
	"testing"
	"time"

	"github.com/pbxgate/pbxgate/drivers/modemsim/simproc"
)

// The CPU benchmarks can run the simulated modems in a child process
// (drivers/modemsim/simproc), so that getrusage of the test process is the
// gateway's own CPU: campaign engine, pool, store and drivers/modem.

func TestMain(m *testing.M) {
	simproc.Serve() // the child process of startExtSim
	os.Exit(m.Run())
}

// startExtSim starts n simulated EC25 modems in a child process.
func startExtSim(tb testing.TB, n int, latency time.Duration, storage int) *simproc.Child {
	tb.Helper()
	return simproc.Start(tb, simproc.Spec{Modems: n, Model: "EC25", SendLatency: latency, StorageCapacity: storage})
}
