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

// Messages kept on the SIM fill its storage: at 90 % the modem's Info says
// so (read with AT+CPMS?, 27.005 §3.2.2) and the log warns once; draining
// clears it.
func TestStorageNearlyFull(t *testing.T) {
	t.Parallel()
	rig := newRig(t, modemsim.Config{Model: "EC25", StorageCapacity: 5})
	hold := &testHold{}
	hold.on.Store(true)
	rig.cfg.Hold = hold
	rig.cfg.PollInterval = 50 * time.Millisecond
	m := rig.start(t)
	for i := range 5 {
		if err := rig.net.Inject(context.Background(), rig.sim.Number(), modemsim.InboundSMS{From: "+4915100000042", Text: fmt.Sprintf("held %d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for !m.Info().StorageNearlyFull {
		if time.Now().After(deadline) {
			t.Fatalf("not reported nearly full: %+v", m.Info())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if in := m.Info(); in.StorageUsed != 5 || in.StorageTotal != 5 {
		t.Fatalf("storage %d/%d", in.StorageUsed, in.StorageTotal)
	}
	hold.on.Store(false)
	rig.rec.wait(t, "5 messages", func() bool { return len(rig.rec.pdus) == 5 })
	for deadline := time.Now().Add(10 * time.Second); m.Info().StorageNearlyFull; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("still nearly full after draining: %+v", m.Info())
		}
	}
}

// A delivery report routed to pbxgate (+CDS) while the hold is on is
// refused with AT+CNMA=2 (RP-ERROR, 3GPP TS 27.005 §3.4.4): the network
// keeps it and offers it again, and routing stays on. Once the hold ends
// it is stored once and acknowledged.
func TestHoldRefusesRoutedReport(t *testing.T) {
	t.Parallel()
	rig := newRig(t, modemsim.Config{Model: "EC25", DeliveryReportDelay: 5 * time.Millisecond, RetryDelay: 50 * time.Millisecond})
	hold := &testHold{}
	rig.cfg.Hold = hold
	m := rig.start(t)
	hold.on.Store(true)
	mr := sendWithReport(t, m, "report during a hold")
	nacks := func() int {
		n := 0
		for _, l := range outLines(m) {
			if l == "AT+CNMA=2" {
				n++
			}
		}
		return n
	}
	deadline := time.Now().Add(10 * time.Second)
	for nacks() < 2 { // refused, offered again, refused again
		if time.Now().After(deadline) {
			t.Fatalf("the report was not refused twice: %q", outLines(m))
		}
		time.Sleep(10 * time.Millisecond)
	}
	rig.rec.mu.Lock()
	early := len(rig.rec.reports)
	rig.rec.mu.Unlock()
	if early != 0 {
		t.Fatalf("%d reports handed over during the hold", early)
	}
	hold.on.Store(false)
	wantReport(t, rig, mr)
	if d := m.dialectNow(); d.ds != 1 {
		t.Fatalf("<ds> %d after the hold, want 1", d.ds)
	}
}
