package modem

import (
	"strings"
	"testing"
	"time"

	"github.com/pbxgate/pbxgate/gateway/sms"
)

// What the AT engine is handed: the modem's lines without the blank lines
// of the V.250 framing (every result code and information text comes as
// <CR><LF>text<CR><LF>, V.250 §5.7.1, 3GPP TS 27.007 §4.1), the "> "
// prompt of AT+CMGS as '>' (27.005 §3.5.1: <CR><LF><greater_than><space>),
// however the port splits the bytes into reads.
func TestDropBlank(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		// AT+CMGS: prompt, then the answer (SIM800L, python-gsmmodem#44).
		{"\r\n> ", ">"},
		{"\r\n+CMGS: 64\r\n\r\nOK\r\n", "+CMGS: 64\r\nOK\r\n"},
		// AT+CNMA's OK and a routed report in one read (simcom-sim800l-cds.txt).
		{"\r\nOK\r\n\r\n+CDS: 25\r\n079119890400202306400C91197909913764511090718384225110907183252200\r\n",
			"OK\r\n+CDS: 25\r\n079119890400202306400C91197909913764511090718384225110907183252200\r\n"},
		// The whole exchange as one stream: no blank line after the prompt.
		{"\r\n> \r\n+CMGS: 64\r\n\r\nOK\r\n", ">+CMGS: 64\r\nOK\r\n"},
		// Echo on (a restarted modem): the command comes back with its CR.
		{"AT+CMGS=19\r\r\n> ", "AT+CMGS=19\r\r\n>"},
		// A line that starts with '>' is not all prompt.
		{"\r\n>x\r\n", ">x\r\n"},
		// Spaces inside a line stay.
		{"\r\n+COPS: 0,0,\"Replay Net\",0\r\n", "+COPS: 0,0,\"Replay Net\",0\r\n"},
	} {
		whole := string((&tap{}).dropBlank([]byte(tc.in)))
		if whole != tc.want {
			t.Errorf("dropBlank(%q) = %q, want %q", tc.in, whole, tc.want)
		}
		// Every way of cutting it in two reads, and a byte per read.
		for cut := range len(tc.in) + 1 {
			tp := &tap{}
			got := string(tp.dropBlank([]byte(tc.in[:cut]))) + string(tp.dropBlank([]byte(tc.in[cut:])))
			if got != tc.want {
				t.Errorf("dropBlank(%q | %q) = %q, want %q", tc.in[:cut], tc.in[cut:], got, tc.want)
			}
		}
		tp := &tap{}
		var got []byte
		for i := range len(tc.in) {
			got = append(got, tp.dropBlank([]byte{tc.in[i]})...)
		}
		if string(got) != tc.want {
			t.Errorf("dropBlank(%q) byte by byte = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// The PDU written after the prompt is sms.Part.PDU's: "00" (no SMSC
// address: the SIM's, 3GPP TS 27.005 §3.1 <pdu>) and the TPDU in hex.
func TestAppendPDU(t *testing.T) {
	t.Parallel()
	enc := sms.NewEncoder(0)
	var buf []byte
	for _, text := range []string{"Your appointment is confirmed for Monday 10:00.", "Grüße, 10 € 🙂", strings.Repeat("a long message ", 30)} {
		parts, err := enc.Submit("+4917012345678", text, true)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range parts {
			buf = appendPDU(buf[:0], p.TPDU)
			if string(buf) != p.PDU() {
				t.Fatalf("appendPDU %q, Part.PDU %q", buf, p.PDU())
			}
		}
	}
}

// The prompt watchdog is one timer per port, re-armed for every AT+CMGS:
// a late run of the one armed before must not abort the next AT+CMGS, a
// run after the prompt timeout aborts it (an injected +CMS ERROR).
func TestPromptOverdue(t *testing.T) {
	t.Parallel()
	tp := &tap{inj: make(chan []byte, 1)}
	tp.beginSMS(time.Hour)
	tp.promptOverdue()
	if _, injected := tp.endSMS(); injected {
		t.Fatal("aborted an AT+CMGS that began just now")
	}
	tp.beginSMS(time.Millisecond)
	time.Sleep(2 * time.Millisecond)
	tp.promptOverdue()
	if _, injected := tp.endSMS(); !injected {
		t.Fatal("did not abort an AT+CMGS past its prompt timeout")
	}
	if b := <-tp.inj; string(b) != "\r\n+CMS ERROR: "+abortMarker+"\r\n" {
		t.Fatalf("injected %q", b)
	}
}
