package modem

import (
	"context"
	"testing"
	"time"

	"github.com/pbxgate/pbxgate/drivers/modemsim"
)

// A modem that restarts behind the open port (brown-out, watchdog) is back
// to power-on settings (V.250: echo on; 27.007 AT+CMEE=0; 27.005 indications
// off, storage SM) and a PIN-protected SIM asks for its PIN again. The
// driver notices — from the modem's start-up lines when it prints them,
// otherwise from the poll's probe of settings only pbxgate sets — and
// restores the whole setup: the PIN is entered again, PDU mode, storage
// and indications are back (a new SMS is announced and read), sending works.
func TestSilentResetRestored(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		model    string
		announce bool
		poll     time.Duration
	}{
		// No start-up lines: only the probe can tell.
		{"silent", "SIM800", false, 100 * time.Millisecond},
		// Start-up lines ("RDY", "+CPIN: SIM PIN", "+QUSIM: 1", "+QIND: SMS
		// DONE"); no polling during the test, so they alone must do it.
		{"announced", "EC25", true, time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rig := newRig(t, modemsim.Config{Model: tc.model, PIN: "1234"})
			rig.cfg.PIN = "1234"
			rig.cfg.PollInterval = tc.poll
			m := rig.start(t)
			rig.rec.mu.Lock()
			before := len(rig.rec.states)
			rig.rec.mu.Unlock()
			rig.sim.SilentReset(tc.announce)
			rig.rec.wait(t, "re-initialisation", func() bool {
				return len(rig.rec.states) > before && rig.rec.states[len(rig.rec.states)-1] == StateOnline
			})
			if st := rig.sim.Status().State; st != modemsim.StateOnline {
				t.Fatalf("simulator is %s after the driver restored it (PIN not entered again?)", st)
			}
			if err := rig.net.Inject(context.Background(), rig.sim.Number(), modemsim.InboundSMS{From: "+4915100000003", Text: "after the reset"}); err != nil {
				t.Fatal(err)
			}
			rig.rec.wait(t, "message", func() bool { return len(rig.rec.pdus) == 1 })
			if _, err := m.Send(context.Background(), "+4917012345678", "PDU mode again", false); err != nil {
				t.Fatal(err)
			}
			waitStorageEmpty(t, rig)
		})
	}
}

// The answer to AT+CPIN? or AT+CFUN? is not a restart sign; the same line
// unsolicited is (27.007 §8.3/§8.2), as are the vendors' start-up lines.
func TestRestartLines(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		line, pending string
		want          bool
	}{
		{"+CPIN: READY", "+CPIN", false},
		{"+CPIN: READY", "", true},
		{"+CPIN: READY", "+CSQ", true},
		{"+CFUN: 1", "+CFUN", false},
		{"+CFUN: 1", "", true},
		{"RDY", "", true},
		{"+QIND: SMS DONE", "", true},
		{"PB DONE", "+CREG", true},
		{"SMS Ready", "", true},
		{"^SIMST: 1", "", true},
		{"+CREG: 1", "", false},
		{"OK", "", false},
	} {
		if got := restartLine(tc.line, tc.pending); got != tc.want {
			t.Errorf("restartLine(%q, pending %q) = %v, want %v", tc.line, tc.pending, got, tc.want)
		}
	}
}
