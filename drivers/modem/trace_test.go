package modem

import (
	"strings"
	"testing"

	"github.com/pbxgate/pbxgate/drivers/modemsim"
)

// The AT trace keeps both directions and never the PIN.
func TestTraceMasksPIN(t *testing.T) {
	t.Parallel()
	rig := newRig(t, modemsim.Config{Model: "EC25", PIN: "4711"})
	rig.cfg.PIN = "4711"
	m := rig.start(t)
	var out, in, pin bool
	for _, l := range m.Trace() {
		if strings.Contains(l.Text, "4711") {
			t.Fatalf("trace shows the PIN: %+v", l)
		}
		out = out || (l.Dir == "out" && l.Text == "AT+CMGF=0")
		in = in || (l.Dir == "in" && l.Text == "+CPIN: SIM PIN")
		pin = pin || (l.Dir == "out" && l.Text == `AT+CPIN="****"`)
	}
	if !out || !in || !pin {
		t.Fatalf("trace lacks lines (out %v, in %v, masked PIN %v): %+v", out, in, pin, m.Trace())
	}
}

// The ring keeps the last n lines; AT+CLCK keeps facility and mode, not the password.
func TestTraceRing(t *testing.T) {
	t.Parallel()
	tr := NewTrace(3)
	tr.add(dirOut, []byte("AT+CLCK=\"SC\",1,\"1234\"\r"))
	tr.add(dirIn, []byte("\r\nOK\r\n\r\n> "))
	tr.add(dirOut, []byte("0011\x1a"))
	got := tr.Lines()
	if len(got) != 3 || got[0].Text != "OK" || got[0].Dir != "in" || got[1].Text != ">" || got[2].Text != "0011<Ctrl-Z>" || got[2].Dir != "out" {
		t.Fatalf("ring %+v", got)
	}
	tr2 := NewTrace(5)
	tr2.add(dirOut, []byte("AT+CLCK=\"SC\",1,\"1234\"\r"))
	if l := tr2.Lines(); len(l) != 1 || l[0].Text != `AT+CLCK="SC",1,"****"` {
		t.Fatalf("CLCK %+v", l)
	}
}

// A modem with echo on (V.250 E1, e.g. after a reset) sends the PIN
// command back: the echo is masked too.
func TestTraceMasksEchoedPIN(t *testing.T) {
	t.Parallel()
	tr := NewTrace(10)
	tr.add(dirOut, []byte("AT+CPIN=\"4711\"\r"))
	tr.add(dirIn, []byte("AT+CPIN=\"4711\"\r\r\nOK\r\n"))
	for _, l := range tr.Lines() {
		if strings.Contains(l.Text, "4711") {
			t.Fatalf("trace shows the PIN: %+v", tr.Lines())
		}
	}
	if l := tr.Lines(); len(l) != 3 || l[1].Dir != "in" || l[1].Text != `AT+CPIN="****"` {
		t.Fatalf("lines %+v", l)
	}
}

// mask's cheap pre-test lets every line the regexp would mask through:
// each form of the commands that carry a PIN, PUK or password (3GPP TS
// 27.007 §8.3 +CPIN, §7.4 +CLCK, §7.5 +CPWD; Huawei ^CPIN) in any case,
// with and without AT, is masked; ordinary lines are kept as they are.
func TestMaskSecrets(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`AT+CPIN="1234"`, `AT+CPIN="****"`},
		{`at+cpin="1234"`, `at+cpin="****"`},
		{`+CPIN="12345678","1234"`, `+CPIN="****"`},
		{`AT+CPIN2="1234"`, `AT+CPIN2="****"`},
		{`AT^CPIN="1234"`, `AT^CPIN="****"`},
		{`At+ClCk="SC",1,"1234"`, `At+ClCk="SC",1,"****"`},
		{`AT+CPWD="SC","1234","5678"`, `AT+CPWD="****"`},
		{`AT+CPIN?`, `AT+CPIN?`},
		{`+CPIN: READY`, `+CPIN: READY`},
		{`AT+CMGS=21`, `AT+CMGS=21`},
		{`AT`, `AT`},
		{`+CDSI: "SM",0`, `+CDSI: "SM",0`},
	} {
		if got := mask(tc.in); got != tc.want {
			t.Errorf("mask(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if !mayHoldSecret(tc.in) && secretRE.MatchString(tc.in) {
			t.Errorf("%q skips the regexp that matches it", tc.in)
		}
	}
}
