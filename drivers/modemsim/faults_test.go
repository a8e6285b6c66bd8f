package modemsim

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/warthog618/modem/at"
)

func cmdErr(a *at.AT, cmd string) error {
	_, err := a.Command(cmd)
	return err
}

func TestPINThenPUK(t *testing.T) {
	t.Parallel()
	n := newNet(t)
	m := addModem(t, n, Config{Model: "EC25", PIN: "4711"})
	a, _ := openAT(t, m.Path())
	initAT(t, a)
	mustCmd(t, a, "+CMEE=1")
	if got := mustCmd(t, a, "+CPIN?"); got[0] != "+CPIN: SIM PIN" {
		t.Fatalf("CPIN? = %q", got)
	}
	if err := cmdErr(a, "+CIMI"); err != at.CMEError("11") {
		t.Fatalf("CIMI before PIN: %v, want CME 11", err)
	}
	if got := m.Status().State; got != StatePINRequired {
		t.Fatalf("state %q", got)
	}
	for i := 0; i < 3; i++ {
		if err := cmdErr(a, `+CPIN="0000"`); err != at.CMEError("16") {
			t.Fatalf("wrong PIN %d: %v, want CME 16", i, err)
		}
		if i < 2 {
			if got := mustCmd(t, a, "+QPINC?"); got[0] != `+QPINC: "SC",`+string(rune('2'-i))+`,10` {
				t.Fatalf("QPINC after %d wrong = %q", i+1, got)
			}
		}
	}
	if got := mustCmd(t, a, "+CPIN?"); got[0] != "+CPIN: SIM PUK" {
		t.Fatalf("after 3 wrong PINs CPIN? = %q", got)
	}
	if err := cmdErr(a, `+CPIN="4711"`); err != at.CMEError("12") {
		t.Fatalf("PIN while PUK locked: %v, want CME 12", err)
	}
	if err := cmdErr(a, `+CPIN="12345678","1234"`); err != nil {
		t.Fatalf("PUK: %v", err)
	}
	if got := mustCmd(t, a, "+CPIN?"); got[0] != "+CPIN: READY" {
		t.Fatalf("after PUK CPIN? = %q", got)
	}
	// the new PIN is asked after a reset
	boots := m.Boots()
	mustCmd(t, a, "+CFUN=1,1")
	path := waitBoot(t, m, boots)
	b, _ := openAT(t, path)
	initAT(t, b)
	if got := mustCmd(t, b, "+CPIN?"); got[0] != "+CPIN: SIM PIN" {
		t.Fatalf("after reset CPIN? = %q", got)
	}
	mustCmd(t, b, `+CPIN="1234"`)
	if got := mustCmd(t, b, "+CREG?"); got[0] != "+CREG: 0,1" {
		t.Fatalf("CREG after PIN = %q", got)
	}
}

func TestCMSErrors(t *testing.T) {
	t.Parallel()
	n := newNet(t)
	m := addModem(t, n, Config{Model: "EC25"})
	a, _ := openAT(t, m.Path())
	initAT(t, a)
	mustCmd(t, a, "+CMGF=0")
	pdu := submitPDUs(t, "+491709999999", "hallo", 1, false)[0]
	for _, code := range []int{38, 28} {
		m.SetFault(Fault{CMSErrors: map[int]float64{code: 1}})
		_, err := sendPDU(a, pdu)
		if want := at.CMSError(strconv.Itoa(code)); err != want {
			t.Fatalf("send with fault %d: %v, want %v", code, err, want)
		}
	}
	m.SetFault(Fault{Deregistered: true})
	if _, err := sendPDU(a, pdu); err != at.CMSError("331") {
		t.Fatalf("deregistered send: %v, want CMS 331", err)
	}
	if got := mustCmd(t, a, "+CEREG?"); got[0] != "+CEREG: 0,2" {
		t.Fatalf("deregistered CEREG? = %q", got)
	}
	if got := mustCmd(t, a, "+COPS?"); got[0] != "+COPS: 0" {
		t.Fatalf("deregistered COPS? = %q", got)
	}
	m.SetFault(Fault{CMSErrors: map[int]float64{500: 0.5}})
	ok, failed := 0, 0
	for i := 0; i < 40; i++ {
		_, err := sendPDU(a, pdu)
		switch {
		case err == nil:
			ok++
		case err == at.CMSError("500"):
			failed++
		default:
			t.Fatalf("send %d: %v", i, err)
		}
	}
	if ok == 0 || failed == 0 {
		t.Fatalf("p=0.5 gave %d ok, %d failed", ok, failed)
	}
	if len(m.Sent()) != ok {
		t.Fatalf("Sent() = %d, want only the %d accepted", len(m.Sent()), ok)
	}
}

func TestHangRecoveredByReset(t *testing.T) {
	t.Parallel()
	n := newNet(t)
	m := addModem(t, n, Config{Model: "EC25", ResetDowntime: 50 * time.Millisecond})
	a, _ := openAT(t, m.Path())
	initAT(t, a)
	m.SetFault(Fault{Hang: true})
	if _, err := a.Command("+CSQ", at.WithTimeout(300*time.Millisecond)); !errors.Is(err, at.ErrDeadlineExceeded) {
		t.Fatalf("hung CSQ: %v, want deadline exceeded", err)
	}
	if got := m.Status().State; got != StateHung {
		t.Fatalf("state %q, want hung", got)
	}
	boots := m.Boots()
	if err := cmdErr(a, "+CFUN=1,1"); err != nil {
		t.Fatalf("CFUN=1,1 on a resettable hang: %v", err)
	}
	select {
	case <-a.Closed():
	case <-time.After(guard):
		t.Fatal("port did not vanish after CFUN=1,1")
	}
	b, _ := openAT(t, waitBoot(t, m, boots))
	initAT(t, b)
	if got := mustCmd(t, b, "+CSQ"); got[0] != "+CSQ: 20,99" {
		t.Fatalf("after reset CSQ = %q", got)
	}
	if m.Fault().Hang {
		t.Fatal("hang not cleared by reset")
	}
}

func TestHangNeedsReopen(t *testing.T) {
	t.Parallel()
	n := newNet(t)
	m := addModem(t, n, Config{Model: "SIM800"})
	a, p := openAT(t, m.Path())
	initAT(t, a)
	m.SetFault(Fault{Hang: true, HangMode: HangUntilReopen})
	if _, err := a.Command("+CFUN=1,1", at.WithTimeout(300*time.Millisecond)); !errors.Is(err, at.ErrDeadlineExceeded) {
		t.Fatalf("CFUN=1,1 on a reopen hang: %v, want deadline exceeded", err)
	}
	p.Close()
	waitFor(t, "hang cleared by closing the port", func() bool { return !m.Fault().Hang })
	b, _ := openAT(t, m.Path())
	initAT(t, b)
	if got := mustCmd(t, b, "+CGMM"); got[0] != "SIMCOM_SIM800L" {
		t.Fatalf("after reopen CGMM = %q", got)
	}
}

func TestHangNeedsReplug(t *testing.T) {
	t.Parallel()
	n := newNet(t)
	m := addModem(t, n, Config{Model: "E3372"})
	m.SetFault(Fault{Hang: true, HangMode: HangUntilReplug})
	a, p := openAT(t, m.Path())
	if err := a.Init(at.WithTimeout(200 * time.Millisecond)); !errors.Is(err, at.ErrDeadlineExceeded) {
		t.Fatalf("init on hung modem: %v", err)
	}
	p.Close()
	waitFor(t, "detach seen", func() bool { return !m.Status().Attached })
	a, _ = openAT(t, m.Path())
	if err := a.Init(at.WithTimeout(200 * time.Millisecond)); !errors.Is(err, at.ErrDeadlineExceeded) {
		t.Fatalf("reopen must not cure a replug hang: %v", err)
	}
	boots := m.Boots()
	m.Reboot(10 * time.Millisecond)
	b, _ := openAT(t, waitBoot(t, m, boots))
	initAT(t, b)
}

// TestURCMidCommand reads raw lines: a +CMTI and the configured extra line
// arrive between a response's info line and its OK.
func TestURCMidCommand(t *testing.T) {
	t.Parallel()
	n := newNet(t)
	m := addModem(t, n, Config{Model: "EC25"})
	a, _ := openAT(t, m.Path())
	initAT(t, a)
	m.SetFault(Fault{URCMidCommand: true, MidCommandURC: "RING"})
	if err := n.Inject(t.Context(), m.Number(), InboundSMS{From: "+4930123", Text: "x"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "message stored", func() bool { return m.Status().Storage["SM"].Used == 1 })
	info, err := a.Command("+CSQ")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"+CSQ: 20,99", `+CMTI: "SM",0`, "RING"}
	if strings.Join(info, "|") != strings.Join(want, "|") {
		t.Fatalf("info = %q, want %q", info, want)
	}
}

func TestRegistrationURCs(t *testing.T) {
	t.Parallel()
	n := newNet(t)
	m := addModem(t, n, Config{Model: "EC25"})
	creg := make(lineCh, 4)
	a, _ := openAT(t, m.Path(), at.WithIndication("+CREG:", creg.handler))
	initAT(t, a)
	mustCmd(t, a, "+CREG=1")
	m.SetFault(Fault{Deregistered: true})
	if got := creg.wait(t, "+CREG")[0]; got != "+CREG: 2" {
		t.Fatalf("URC %q, want +CREG: 2", got)
	}
	if got := m.Status().State; got != StateDeregistered {
		t.Fatalf("state %q", got)
	}
	if err := n.Inject(t.Context(), m.Number(), InboundSMS{From: "+491", Text: "held"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "held while deregistered", func() bool { return m.Status().Pending == 1 })
	m.SetFault(Fault{})
	if got := creg.wait(t, "+CREG")[0]; got != "+CREG: 1" {
		t.Fatalf("URC %q, want +CREG: 1", got)
	}
	waitFor(t, "delivered after registration", func() bool { return m.Status().Storage["SM"].Used == 1 })
}

func TestSubmitWithEchoOn(t *testing.T) {
	t.Parallel()
	n := newNet(t)
	m := addModem(t, n, Config{Model: "SIM800"})
	a, _ := openAT(t, m.Path())
	// keep the power-on echo: warthog618's at swallows the echoed command and PDU
	if err := a.Init(at.WithCmds("Z", "E1", "+CMGF=0")); err != nil {
		t.Fatal(err)
	}
	mr, err := sendPDU(a, submitPDUs(t, "+4930", "echo", 1, false)[0])
	if err != nil || mr != 0 {
		t.Fatalf("send with echo: mr %d err %v", mr, err)
	}
	if s := m.Sent(); len(s) != 1 || s[0].Text != "echo" {
		t.Fatalf("Sent = %+v", s)
	}
}

func TestHuaweiPeriodicRSSI(t *testing.T) {
	t.Parallel()
	n := newNet(t)
	m := addModem(t, n, Config{Model: "E3372", PeriodicURCInterval: 20 * time.Millisecond})
	rssi := make(lineCh, 64)
	a, _ := openAT(t, m.Path(), at.WithIndication("^RSSI:", rssi.handler))
	initAT(t, a)
	if got := rssi.wait(t, "^RSSI")[0]; got != "^RSSI: 20" {
		t.Fatalf("periodic URC %q", got)
	}
	mustCmd(t, a, "^CURC=0")
	if got := mustCmd(t, a, "^CURC?"); len(got) != 1 || got[0] != "^CURC: 0" {
		t.Fatalf("CURC? = %q", got)
	}
}

func TestRegistrationDelayAfterPIN(t *testing.T) {
	t.Parallel()
	n := newNet(t)
	m := addModem(t, n, Config{Model: "SIM800", PIN: "1111", RegistrationDelay: 50 * time.Millisecond})
	creg := make(lineCh, 4)
	a, _ := openAT(t, m.Path(), at.WithIndication("+CREG:", creg.handler))
	initAT(t, a)
	mustCmd(t, a, "+CREG=1")
	if got := mustCmd(t, a, "+CREG?"); got[0] != "+CREG: 1,0" {
		t.Fatalf("locked SIM CREG? = %q", got)
	}
	mustCmd(t, a, `+CPIN="1111"`)
	// the at package also hands "+CREG: 1,0" (the answer to AT+CREG?) to
	// the +CREG: indication handler; URCs have one field
	var urcs []string
	for len(urcs) < 2 {
		if l := creg.wait(t, "+CREG URC")[0]; !strings.Contains(l, ",") {
			urcs = append(urcs, l)
		}
	}
	if urcs[0] != "+CREG: 2" || urcs[1] != "+CREG: 1" {
		t.Fatalf("after PIN %q, want searching then registered", urcs)
	}
}

func TestNoSIM(t *testing.T) {
	t.Parallel()
	n := newNet(t)
	m := addModem(t, n, Config{Model: "EC25"})
	m.SetFault(Fault{NoSIM: true})
	a, _ := openAT(t, m.Path())
	initAT(t, a)
	mustCmd(t, a, "+CMEE=2")
	if err := cmdErr(a, "+CPIN?"); err != at.CMEError("SIM not inserted") {
		t.Fatalf("CPIN? without SIM: %v", err)
	}
	if err := cmdErr(a, "+QCCID"); err != at.CMEError("SIM not inserted") {
		t.Fatalf("QCCID without SIM: %v", err)
	}
	if err := cmdErr(a, "+CMGL=4"); err != at.CMSError("310") {
		t.Fatalf("CMGL without SIM: %v", err)
	}
	if got := mustCmd(t, a, "+CREG?"); got[0] != "+CREG: 0,0" {
		t.Fatalf("CREG? without SIM = %q", got)
	}
	if st := m.Status().State; st != StateNoSIM {
		t.Fatalf("state %q", st)
	}
}
