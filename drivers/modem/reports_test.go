package modem

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/pbxgate/pbxgate/drivers/modemsim"
	"github.com/pbxgate/pbxgate/gateway/sms"
)

// sendWithReport sends one single-part SMS asking for a delivery report
// (TP-SRR, 3GPP TS 23.040 §9.2.3.5) and returns its MR.
func sendWithReport(t *testing.T, m *Modem, text string) int {
	t.Helper()
	res, err := m.Send(context.Background(), "+4917099999999", text, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Parts) != 1 {
		t.Fatalf("parts %d", len(res.Parts))
	}
	return res.Parts[0].MR
}

func wantReport(t *testing.T, rig *testRig, mr int) {
	t.Helper()
	rig.rec.wait(t, "the delivery report", func() bool { return len(rig.rec.reports) > 0 })
	rig.rec.mu.Lock()
	defer rig.rec.mu.Unlock()
	if len(rig.rec.reports) != 1 {
		t.Fatalf("reports %+v", rig.rec.reports)
	}
	if sr := rig.rec.reports[0]; sr.MR != mr || sr.Outcome != sms.Delivered || sr.Recipient != "+4917099999999" {
		t.Fatalf("report %+v, want MR %d delivered", sr, mr)
	}
}

// storedReports counts status reports the simulated modem still holds.
func storedReports(rig *testRig) int {
	n := 0
	for _, s := range rig.sim.Stored() {
		if s.Type == "status-report" {
			n++
		}
	}
	return n
}

// +CDSI names the memory holding the report (3GPP TS 27.005 §3.4.1). A
// modem whose AT+CPMS=? does not list "SR" still stores and announces
// reports there: the driver reads the memory the indication names.
func TestReportInUnlistedSR(t *testing.T) {
	t.Parallel()
	rig := newRig(t, modemsim.Config{Model: "SIM7600", UnlistedSR: true, DeliveryReportDelay: 5 * time.Millisecond})
	rig.cfg.StoredReports = true // the stored path (+CDSI), not +CDS
	m := rig.start(t)            // PollInterval 1h: only the indication can make it read
	mr := sendWithReport(t, m, "report from an unlisted memory")
	wantReport(t, rig, mr)
	waitStorageEmpty(t, rig)
}

// A report announced in SR that cannot be read at that moment (AT+CPMS="SR"
// refused) is not lost: SR is drained from then on, at every poll, and the
// report is read once the memory can be selected again.
func TestReportReadLaterByPolling(t *testing.T) {
	t.Parallel()
	rig := newRig(t, modemsim.Config{Model: "SIM7600", UnlistedSR: true, DeliveryReportDelay: 5 * time.Millisecond})
	rig.cfg.StoredReports = true // the stored path (+CDSI), not +CDS
	rig.cfg.PollInterval = 50 * time.Millisecond
	m := rig.start(t)
	rig.sim.SetFault(modemsim.Fault{RefuseMemories: []string{"SR"}})
	mr := sendWithReport(t, m, "report read later")
	deadline := time.Now().Add(10 * time.Second)
	for storedReports(rig) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the simulator stored no report")
		}
		time.Sleep(5 * time.Millisecond)
	}
	for !m.reportsPolled() { // the failed read of the announced report
		if time.Now().After(deadline) {
			t.Fatal("the refused report read did not switch to polling")
		}
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // a few polls while SR is refused
	rig.rec.mu.Lock()
	early := len(rig.rec.reports)
	rig.rec.mu.Unlock()
	if early != 0 {
		t.Fatalf("while SR was refused: %d reports", early)
	}
	rig.sim.SetFault(modemsim.Fault{})
	wantReport(t, rig, mr)
	waitStorageEmpty(t, rig)
}

// A modem that refuses <ds>=2 in AT+CNMI (27.005 §3.4.1 lets it support a
// subset, shown by AT+CNMI=?) still comes online: with <ds>=1 reports are
// routed (+CDS), with only <ds>=0 they are read by polling.
func TestCNMIStatusReportFallback(t *testing.T) {
	t.Parallel()
	t.Run("ds1", func(t *testing.T) {
		t.Parallel()
		rig := newRig(t, modemsim.Config{Model: "SIM800", CNMIDS: []int{0, 1}, DeliveryReportDelay: 5 * time.Millisecond})
		m := rig.start(t)
		if d := m.dialectNow(); d.ds != 1 {
			t.Fatalf("AT+CNMI <ds> %d, want 1", d.ds)
		}
		mr := sendWithReport(t, m, "routed report")
		wantReport(t, rig, mr)
	})
	// The simulator's SIM800 as it comes, like the SIM800L of
	// python-gsmmodem#60 (testdata/replay/simcom-sim800l-cds.txt): <ds> 0
	// and 1 only.
	t.Run("sim800", func(t *testing.T) {
		t.Parallel()
		rig := newRig(t, modemsim.Config{Model: "SIM800", DeliveryReportDelay: 5 * time.Millisecond})
		m := rig.start(t)
		if d := m.dialectNow(); d.ds != 1 {
			t.Fatalf("AT+CNMI <ds> %d, want 1", d.ds)
		}
		mr := sendWithReport(t, m, "routed report")
		wantReport(t, rig, mr)
	})
	t.Run("ds0", func(t *testing.T) {
		t.Parallel()
		rig := newRig(t, modemsim.Config{Model: "EC25", CNMIDS: []int{0}, StoreReportsUnannounced: true, DeliveryReportDelay: 5 * time.Millisecond})
		rig.cfg.PollInterval = 50 * time.Millisecond
		m := rig.start(t)
		if d := m.dialectNow(); d.ds != 0 || !m.reportsPolled() {
			t.Fatalf("AT+CNMI <ds> %d, polled %v; want 0 and polling", d.ds, m.reportsPolled())
		}
		mr := sendWithReport(t, m, "polled report")
		wantReport(t, rig, mr)
		waitStorageEmpty(t, rig)
	})
}

// Messages stored while pbxgate was down are listed once at start-up, not
// by both the connect and Run.
func TestStartupDrainsOnce(t *testing.T) {
	t.Parallel()
	rig := newRig(t, modemsim.Config{Model: "EC25"})
	for i := range 3 {
		if err := rig.net.Inject(context.Background(), rig.sim.Number(), modemsim.InboundSMS{From: "+4915100000001", Text: "stored " + string(rune('a'+i))}); err != nil {
			t.Fatal(err)
		}
	}
	m := New(rig.cfg, rig.rec.handlers(t))
	rig.run(t, m) // Run connects
	rig.rec.wait(t, "3 messages", func() bool { return len(rig.rec.pdus) == 3 })
	waitStorageEmpty(t, rig)
	time.Sleep(200 * time.Millisecond) // a second drain would follow at once
	lists := 0
	for _, l := range m.Trace() {
		if l.Dir == "out" && strings.HasPrefix(l.Text, "AT+CMGL") {
			lists++
		}
	}
	if mems := len(m.dialectNow().memories); lists != mems {
		t.Fatalf("%d AT+CMGL at start-up, want %d (one per memory)", lists, mems)
	}
}

// Reports read one after the other from SR (Quectel EC25 announces them as
// +CDSI: "SM",<index> but stores them in SR) select SR once: AT+CPMS
// (3GPP TS 27.005 §3.2.2) sets the read memory until it is set again, so
// the driver leaves SR selected instead of switching back to the default
// after every read and delete, and after the first report looks such an
// announcement up in SR first. The AT console still reads the default.
func TestReportsInSRSelectOnce(t *testing.T) {
	t.Parallel()
	rig := newRig(t, modemsim.Config{Model: "EC25", DeliveryReportDelay: 5 * time.Millisecond})
	rig.cfg.StoredReports = true // the stored path (+CDSI), not +CDS
	m := rig.start(t)
	const n = 5
	for i := range n {
		mr := sendWithReport(t, m, "report "+string(rune('a'+i)))
		rig.rec.wait(t, "the delivery report", func() bool {
			for _, sr := range rig.rec.reports {
				if sr.MR == mr && sr.Outcome == sms.Delivered {
					return true
				}
			}
			return false
		})
	}
	waitStorageEmpty(t, rig)
	var out []string
	for _, l := range m.Trace() {
		if l.Dir == "out" {
			out = append(out, l.Text)
		}
	}
	// Once a report announced in SM was found in SR (by the second send at
	// the latest: the first report may be found by the start-up drain),
	// each report costs AT+CMGR and AT+CMGD in SR, nothing else.
	first, sends := -1, 0
	for i, l := range out {
		if strings.HasPrefix(l, "AT+CMGS=") {
			if sends++; sends == 3 {
				first = i
				break
			}
		}
	}
	if first < 0 {
		t.Fatalf("not 3 AT+CMGS in the trace: %q", out)
	}
	cpms, cmgr := 0, 0
	for _, l := range out[first:] {
		switch {
		case strings.HasPrefix(l, "AT+CPMS="):
			cpms++
		case strings.HasPrefix(l, "AT+CMGR="):
			cmgr++
		}
	}
	if cpms != 0 || cmgr != n-2 {
		t.Fatalf("%d AT+CPMS= and %d AT+CMGR for the last %d reports, want 0 and %d: %q", cpms, cmgr, n-2, n-2, out)
	}
	res, err := m.Console(context.Background(), "AT+CPMS?", 0, false)
	if err != nil || len(res.Lines) == 0 {
		t.Fatalf("console: %+v %v", res, err)
	}
	if def := m.dialectNow().storage; !strings.HasPrefix(res.Lines[0], `+CPMS: "`+def+`"`) {
		t.Fatalf("console reads %q, want the default memory %s first", res.Lines[0], def)
	}
}
