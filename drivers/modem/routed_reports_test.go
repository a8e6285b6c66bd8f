package modem

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/pbxgate/pbxgate/drivers/modemsim"
	"github.com/pbxgate/pbxgate/gateway/sms"
)

// outLines lists the commands (and PDUs) the driver wrote, from the trace.
func outLines(m *Modem) []string {
	var out []string
	for _, l := range m.Trace() {
		if l.Dir == "out" {
			out = append(out, l.Text)
		}
	}
	return out
}

// On Quectel and SIMCom SIM800 modems delivery reports are routed to the
// port (AT+CNMI <ds>=1: "+CDS: <length><CR><LF><pdu>", 3GPP TS 27.005
// §3.4.1; Quectel EC25&EC21 AT Commands Manual, AT+CNMI and its URC table;
// SIMCom SIM800 Series AT Command Manual V1.09, AT+CNMI <ds> 1) with AT+CSMS=1,
// and each is acknowledged with one AT+CNMA once the handler stored it
// (27.005 §3.4.4; the EC25 manual's AT+CNMA: "+CDS for <ds>=1" with
// <service> 1). A report then costs one command (AT+CNMA) instead of
// AT+CMGR and AT+CMGD, and nothing is left in the modem's storage.
func TestReportsRoutedAndAcknowledged(t *testing.T) {
	t.Parallel()
	for _, model := range []string{"EC25", "SIM800"} {
		t.Run(model, func(t *testing.T) {
			t.Parallel()
			rig := newRig(t, modemsim.Config{Model: model, DeliveryReportDelay: 5 * time.Millisecond})
			m := rig.start(t)
			if d := m.dialectNow(); d.ds != 1 || !d.csms {
				t.Fatalf("AT+CNMI <ds> %d, AT+CSMS=1 %v; want 1 and true", d.ds, d.csms)
			}
			const n = 4
			for i := range n {
				mr := sendWithReport(t, m, "routed "+string(rune('a'+i)))
				rig.rec.wait(t, "the delivery report", func() bool {
					for _, sr := range rig.rec.reports {
						if sr.MR == mr && sr.Outcome == sms.Delivered && sr.Recipient == "+4917099999999" {
							return true
						}
					}
					return false
				})
			}
			// The last AT+CNMA may still be on its way.
			deadline := time.Now().Add(5 * time.Second)
			count := func() (cnma, read int) {
				for _, l := range outLines(m) {
					switch {
					case l == "AT+CNMA":
						cnma++
					case strings.HasPrefix(l, "AT+CMGR"), strings.HasPrefix(l, "AT+CMGD"):
						read++
					}
				}
				return cnma, read
			}
			cnma, read := count()
			for cnma < n && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond)
				cnma, read = count()
			}
			if cnma != n || read != 0 {
				t.Fatalf("%d AT+CNMA and %d AT+CMGR/AT+CMGD for %d reports, want %d and 0: %q", cnma, read, n, n, outLines(m))
			}
			if storedReports(rig) != 0 {
				t.Fatalf("reports left in storage: %+v", rig.sim.Stored())
			}
			rig.rec.mu.Lock()
			got := len(rig.rec.reports)
			rig.rec.mu.Unlock()
			if got != n {
				t.Fatalf("%d reports handed over, want %d", got, n)
			}
		})
	}
}

// A routed report the handler could not store is refused with AT+CNMA=2
// (RP-ERROR, 27.005 §3.4.4 PDU mode; the EC25 manual's <n>=2): the network
// keeps it and delivers it again, routing stays on, and the report is
// handed over then. Without the refusal the modem would have sent the
// RP-ERROR itself after the network's timeout and switched routing off.
func TestRoutedReportRefusedIsRedelivered(t *testing.T) {
	t.Parallel()
	rig := newRig(t, modemsim.Config{Model: "EC25", DeliveryReportDelay: 5 * time.Millisecond, RetryDelay: 50 * time.Millisecond})
	rig.rec.failReports = 1
	m := rig.start(t)
	mr := sendWithReport(t, m, "refused once")
	wantReport(t, rig, mr)
	out := outLines(m)
	nack, ack := 0, 0
	for _, l := range out {
		switch l {
		case "AT+CNMA=2":
			nack++
		case "AT+CNMA":
			ack++
		}
	}
	if nack != 1 {
		t.Fatalf("%d AT+CNMA=2, want 1: %q", nack, out)
	}
	if d := m.dialectNow(); d.ds != 1 {
		t.Fatalf("routing <ds> %d after the refusal, want 1", d.ds)
	}
	// Routing is still on: the next report is routed and acknowledged.
	mr2 := sendWithReport(t, m, "routed again")
	rig.rec.wait(t, "the second report", func() bool {
		return len(rig.rec.reports) == 2 && rig.rec.reports[1].MR == mr2
	})
}

// A report whose acknowledgement came too late (the modem timed out,
// answers +CMS ERROR: 340 and switched routing off, 27.005 §3.4.4) is
// stored all the same, and the driver sets AT+CNMI again at once, so the
// next report is routed and not discarded at <ds>=0.
func TestLateAcknowledgementRestoresRouting(t *testing.T) {
	t.Parallel()
	rig := newRig(t, modemsim.Config{Model: "EC25", DeliveryReportDelay: 5 * time.Millisecond, AckTimeout: 50 * time.Millisecond})
	slow := make(chan struct{})
	h := rig.rec.handlers(t)
	inner := h.StatusReport
	first := true
	h.StatusReport = func(ctx context.Context, name string, sr sms.StatusReport) error {
		if first {
			first = false
			<-slow // past the modem's acknowledgement timeout
		}
		return inner(ctx, name, sr)
	}
	m, err := Open(context.Background(), rig.cfg, h)
	if err != nil {
		t.Fatal(err)
	}
	rig.run(t, m)
	mr := sendWithReport(t, m, "late ack")
	time.Sleep(300 * time.Millisecond) // the modem's 50 ms run out meanwhile
	close(slow)
	wantReport(t, rig, mr)
	// The refused AT+CNMA is followed by AT+CNMI (the rig polls hourly).
	deadline := time.Now().Add(5 * time.Second)
	for {
		out := outLines(m)
		i := len(out) - 1
		for i >= 0 && out[i] != "AT+CNMA" {
			i--
		}
		if i >= 0 && i+1 < len(out) && out[i+1] == "AT+CNMI=2,1,0,1,0" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no AT+CNMI after the late AT+CNMA: %q", out)
		}
		time.Sleep(5 * time.Millisecond)
	}
	mr2 := sendWithReport(t, m, "routed again")
	rig.rec.wait(t, "the second report", func() bool {
		return len(rig.rec.reports) == 2 && rig.rec.reports[1].MR == mr2
	})
}

// Close asks a modem that routes reports to store them again (AT+CNMI
// <ds>=2, 27.005 §3.4.1): a report that arrives while pbxgate is stopped
// waits in the modem's storage (SR on an EC25) instead of going to a
// closed port, and the next start reads it (the start-up drain).
func TestReportsStoredWhileStopped(t *testing.T) {
	t.Parallel()
	rig := newRig(t, modemsim.Config{Model: "EC25", DeliveryReportDelay: 300 * time.Millisecond})
	m, err := Open(context.Background(), rig.cfg, rig.rec.handlers(t))
	if err != nil {
		t.Fatal(err)
	}
	if d := m.dialectNow(); d.ds != 1 {
		t.Fatalf("<ds> %d, want 1", d.ds)
	}
	mr := sendWithReport(t, m, "reported while stopped")
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if got := outLines(m); got[len(got)-1] != "AT+CNMI=2,1,0,2,0" {
		t.Fatalf("last command before close %q, want AT+CNMI=2,1,0,2,0", got[len(got)-1])
	}
	deadline := time.Now().Add(5 * time.Second)
	for storedReports(rig) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the report was not stored while stopped: %+v", rig.sim.Stored())
		}
		time.Sleep(10 * time.Millisecond)
	}
	rig.rec.mu.Lock()
	early := len(rig.rec.reports)
	rig.rec.mu.Unlock()
	if early != 0 {
		t.Fatalf("%d reports handed over while stopped", early)
	}
	m2 := New(rig.cfg, rig.rec.handlers(t))
	rig.run(t, m2)
	wantReport(t, rig, mr)
	waitStorageEmpty(t, rig)
	if d := m2.dialectNow(); d.ds != 1 {
		t.Fatalf("<ds> %d after the restart, want 1 (routed again)", d.ds)
	}
}

// A SIM7600 keeps stored reports (routesReports: no reference for routed
// ones on it), read from SR where it announces them.
func TestSIM7600ReportsStored(t *testing.T) {
	t.Parallel()
	rig := newRig(t, modemsim.Config{Model: "SIM7600", DeliveryReportDelay: 5 * time.Millisecond})
	m := rig.start(t)
	if d := m.dialectNow(); d.ds != 2 || d.csms {
		t.Fatalf("<ds> %d, AT+CSMS=1 %v; want 2 and false", d.ds, d.csms)
	}
	mr := sendWithReport(t, m, "stored on a SIM7600")
	wantReport(t, rig, mr)
	waitStorageEmpty(t, rig)
}

// StoredReports keeps the stored path on a modem that could route them.
func TestStoredReportsOption(t *testing.T) {
	t.Parallel()
	rig := newRig(t, modemsim.Config{Model: "EC25", DeliveryReportDelay: 5 * time.Millisecond})
	rig.cfg.StoredReports = true
	m := rig.start(t)
	if d := m.dialectNow(); d.ds != 2 || d.csms {
		t.Fatalf("<ds> %d, AT+CSMS=1 %v; want 2 and false", d.ds, d.csms)
	}
	mr := sendWithReport(t, m, "stored")
	wantReport(t, rig, mr)
	waitStorageEmpty(t, rig)
}
