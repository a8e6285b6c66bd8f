package modem

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pbxgate/pbxgate/drivers/modemsim"
)

type testHold struct{ on atomic.Bool }

func (h *testHold) Blocked() (string, bool) {
	return "disk almost full: 3.0 MiB free on /data", h.on.Load()
}

// TestHoldKeepsMessagesOnSIM: while the hold is on (pbxgate's disk almost
// full), messages announced with +CMTI (3GPP TS 27.005 §3.4.1, CNMI mt=1)
// are neither read nor deleted: they stay in the simulator's SIM storage.
// When the hold ends, every one is read, handed over once and deleted.
func TestHoldKeepsMessagesOnSIM(t *testing.T) {
	t.Parallel()
	rig := newRig(t, modemsim.Config{Model: "EC25", StorageCapacity: 10})
	hold := &testHold{}
	hold.on.Store(true)
	rig.cfg.Hold = hold
	rig.start(t)
	for i := range 3 {
		if err := rig.net.Inject(context.Background(), rig.sim.Number(), modemsim.InboundSMS{From: "+4915100000042", Text: fmt.Sprintf("held %d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for used(rig) < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("messages not stored on the SIM: %+v", rig.sim.Status().Storage)
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(3 * holdRetry) // the modem looks again while holding
	rig.rec.mu.Lock()
	n := len(rig.rec.pdus)
	rig.rec.mu.Unlock()
	if n != 0 || used(rig) != 3 {
		t.Fatalf("with the hold on: %d handed over, %d on the SIM; want 0 and 3", n, used(rig))
	}
	hold.on.Store(false)
	rig.rec.wait(t, "3 messages after the hold", func() bool { return len(rig.rec.pdus) == 3 })
	seen := map[string]int{}
	for _, d := range rig.rec.pdus {
		seen[d.Text]++
	}
	for i := range 3 {
		if seen[fmt.Sprintf("held %d", i)] != 1 {
			t.Fatalf("message %d handed over %d times: %v", i, seen[fmt.Sprintf("held %d", i)], seen)
		}
	}
	waitStorageEmpty(t, rig)
}

func used(r *testRig) int {
	n := 0
	for _, s := range r.sim.Status().Storage {
		n += s.Used
	}
	return n
}
