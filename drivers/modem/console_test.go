package modem

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pbxgate/pbxgate/drivers/modemsim"
)

// The console's verdicts follow what the commands do per ITU-T V.250 (D
// dials, A answers, O returns online, Z and &F restore defaults, ';'
// chains commands), 3GPP TS 27.007 (+CFUN=0/1,1 radio off/reset, +CPIN/
// +CLCK/+CPWD carry PINs and passwords, +CLCK mode 2 only queries) and TS
// 27.005 (+CMGS/+CMGW need the "> " prompt, +CMGD deletes, +CMGF/+CNMI/
// +CPMS are settings pbxgate relies on).
func TestCheckConsole(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in     string
		risk   ConsoleRisk
		reason string
	}{
		{"AT", ConsoleSafe, ""},
		{"at+csq", ConsoleSafe, ""},
		{"ATI", ConsoleSafe, ""},
		{"AT&V", ConsoleSafe, ""},
		{"AT+CPIN?", ConsoleSafe, ""},
		{"AT+CFUN?", ConsoleSafe, ""},
		{"AT+CFUN=?", ConsoleSafe, ""},
		{"AT+CLCK=\"SC\",2", ConsoleSafe, ""},
		{"AT+COPS=?", ConsoleSafe, ""},
		{"AT+CMGS=?", ConsoleSafe, ""},
		{"AT^SYSINFO", ConsoleSafe, ""},
		{"ATS0?", ConsoleSafe, ""},
		{"AT+CFUN=0", ConsoleConfirm, "reset"},
		{"AT+CFUN=1,1", ConsoleConfirm, "reset"},
		{"AT&F", ConsoleConfirm, "reset"},
		{"ATZ", ConsoleConfirm, "reset"},
		{"ATE1", ConsoleConfirm, "setup"},
		{"ATE0V1", ConsoleConfirm, "setup"},
		{"AT+CMGF=1", ConsoleConfirm, "setup"},
		{"AT+IFC=2,2", ConsoleConfirm, "setup"},
		{"AT+CMGD=1,4", ConsoleConfirm, "delete"},
		{"AT+COPS=0", ConsoleConfirm, "network"},
		{"ATD+4917012345678;", ConsoleRefused, "chain"},
		{"ATD112", ConsoleRefused, "call"},
		{"ATA", ConsoleRefused, "call"},
		{"ATE0D1", ConsoleRefused, "call"},
		{"AT+CPIN=1234", ConsoleRefused, "secret"},
		{"AT+CPIN=\"12345678\",\"1234\"", ConsoleRefused, "secret"},
		{"AT+CLCK=\"SC\",0,\"1234\"", ConsoleRefused, "secret"},
		{"AT+CPWD=\"SC\",\"1234\",\"4321\"", ConsoleRefused, "secret"},
		{"AT+CMGS=23", ConsoleRefused, "prompt"},
		{"AT+CMGW", ConsoleRefused, "prompt"},
		{"AT+CSQ;+CFUN=0", ConsoleRefused, "chain"},
		{"AT+CUSD=1,\"*100#;\",15", ConsoleSafe, ""}, // ';' inside quotes
	} {
		ck, err := CheckConsole(tc.in)
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		if ck.Risk != tc.risk || ck.Reason != tc.reason {
			t.Errorf("%q: risk %d %q, want %d %q", tc.in, ck.Risk, ck.Reason, tc.risk, tc.reason)
		}
	}
	for _, bad := range []string{"", "CSQ", "+CSQ", "AT+CSQ\rAT+CFUN=0", "AT+CMGS=1\x1a", "AT" + strings.Repeat("I", ConsoleMaxLen), "AT+CSQä"} {
		if _, err := CheckConsole(bad); !errors.Is(err, ErrConsoleInput) {
			t.Errorf("%q: err %v, want ErrConsoleInput", bad, err)
		}
	}
}

// The console runs one command on a modem through a real pty (simulator):
// reads answer at once, refused and unconfirmed commands never reach the
// port, an unknown command gives the modem's ERROR, and a confirmed
// AT+CMGF=1 (text mode) is followed by pbxgate restoring PDU mode
// (3GPP TS 27.005 §3.2.3) so sending keeps working.
func TestConsole(t *testing.T) {
	t.Parallel()
	rig := newRig(t, modemsim.Config{Model: "SIM800"})
	rig.cfg.TraceLines = 2000
	m := rig.start(t)
	ctx := context.Background()

	res, err := m.Console(ctx, "at+csq", 0, false)
	if err != nil {
		t.Fatal(err)
	}
	if res.Final != "OK" || len(res.Lines) != 1 || !strings.HasPrefix(res.Lines[0], "+CSQ: ") {
		t.Fatalf("AT+CSQ: %+v", res)
	}
	res, err = m.Console(ctx, "AT+NOSUCHTHING", 0, false)
	if err != nil || res.Final != "ERROR" {
		t.Fatalf("unknown command: %+v %v", res, err)
	}
	for _, c := range []string{"AT+CPIN=9876", "ATD+4917012345678", "AT+CMGF=1"} {
		if _, err := m.Console(ctx, c, 0, false); !errors.Is(err, ErrConsoleInput) {
			t.Fatalf("%s ran unconfirmed: %v", c, err)
		}
	}
	for _, l := range m.Trace() {
		if strings.Contains(l.Text, "9876") || strings.HasPrefix(l.Text, "ATD") || l.Text == "AT+CMGF=1" {
			t.Fatalf("refused command reached the modem: %+v", l)
		}
	}

	rig.rec.mu.Lock()
	before := len(rig.rec.states)
	rig.rec.mu.Unlock()
	res, err = m.Console(ctx, "AT+CMGF=1", 0, true)
	if err != nil || res.Final != "OK" {
		t.Fatalf("confirmed AT+CMGF=1: %+v %v", res, err)
	}
	rig.rec.wait(t, "setup restored", func() bool {
		return len(rig.rec.states) > before+1 && rig.rec.states[len(rig.rec.states)-1] == StateOnline
	})
	res, err = m.Console(ctx, "AT+CMGF?", 0, false)
	if err != nil || len(res.Lines) != 1 || res.Lines[0] != "+CMGF: 0" {
		t.Fatalf("PDU mode not restored: %+v %v", res, err)
	}
	if _, err := m.Send(ctx, "+4917012345678", "after the console", false); err != nil {
		t.Fatal(err)
	}
}

// Console commands never run inside a send: between AT+CMGS=<n> and its PDU
// nothing else is written to the port (3GPP TS 27.005 §3.5.1: the modem
// reads the PDU after the prompt), however the console and sends interleave.
func TestConsoleSerialisedWithSends(t *testing.T) {
	t.Parallel()
	rig := newRig(t, modemsim.Config{Model: "EC25"})
	rig.cfg.TraceLines = 5000
	m := rig.start(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	errc := make(chan error, 40)
	for i := range 6 {
		wg.Add(2)
		go func() {
			defer wg.Done()
			if _, err := m.Send(ctx, "+4917012345678", fmt.Sprintf("message %d", i), false); err != nil {
				errc <- err
			}
		}()
		go func() {
			defer wg.Done()
			for range 3 {
				if res, err := m.Console(ctx, "AT+CSQ", 0, false); err != nil || res.Final != "OK" {
					errc <- fmt.Errorf("console: %+v %w", res, err)
				}
			}
		}()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
	var out []string
	for _, l := range m.Trace() {
		if l.Dir == "out" {
			out = append(out, l.Text)
		}
	}
	sends, csq := 0, 0
	for i, l := range out {
		if l == "AT+CSQ" {
			csq++
		}
		if !strings.HasPrefix(l, "AT+CMGS=") {
			continue
		}
		sends++
		if i+1 >= len(out) || !strings.HasSuffix(out[i+1], "<Ctrl-Z>") {
			t.Fatalf("AT+CMGS not followed by its PDU: %q", out[i:min(i+3, len(out))])
		}
	}
	if sends != 6 || csq < 18 {
		t.Fatalf("%d sends and %d AT+CSQ in the trace, want 6 and ≥ 18", sends, csq)
	}
}

// A console command the modem does not answer times out without marking
// the modem hung by itself. The modem is opened without Run, so none of
// the driver's own work (drain, poll) runs to hang on the silent modem.
func TestConsoleTimeout(t *testing.T) {
	t.Parallel()
	rig := newRig(t, modemsim.Config{Model: "EC25"})
	m, err := Open(context.Background(), rig.cfg, rig.rec.handlers(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	rig.sim.SetFault(modemsim.Fault{Hang: true})
	res, err := m.Console(context.Background(), "AT+CSQ", 300*time.Millisecond, false)
	if !errors.Is(err, ErrTimeout) || res.Final != "" {
		t.Fatalf("hung modem: %+v %v", res, err)
	}
	if st := m.State(); st != StateOnline {
		t.Fatalf("state %s after a console timeout", st)
	}
}
