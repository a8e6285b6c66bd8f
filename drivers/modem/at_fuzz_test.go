package modem

import (
	"bytes"
	"context"
	"encoding/hex"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/pbxgate/pbxgate/gateway/sms"
)

// Modem output as real modems wrote it (lines as the at package hands
// them over, without CR LF), from public logs:
var atSeeds = []string{
	// Huawei E1752 listing a received message (gammu/gammu issue #126).
	"+CMGL: 0,0,,23\n07913366003051F5040B913366304381F900005180719120348004D4F29C0E\nOK",
	// Huawei E3131 listing an unsent draft, stat 3 (gammu/gammu issue #333).
	"+CMGL: 0,3,,18\n0011000B817044763185F60000AD044D76F80C\nOK",
	// Indication, storage answer, read and status report of one exchange
	// (faucamp/python-gsmmodem issue #44).
	`+CMTI: "SM",7`,
	"+CPMS: 7,20,7,20,7,20\nOK",
	"+CMGR: 0,,29\n0791198904100161240C911979099137640000511090718303220BC8B4421174CFD175D014\nOK",
	"+CDS: 25\n079119890400202306400C91197909913764511090718384225110907183252200",
	// A report stored in SR (gammu/gammu issue #408).
	`+CDSI: "SR",0`,
	// Routed message (3GPP TS 27.005 §3.4.1 +CMT: [<alpha>],<length><CR><LF><pdu>).
	"+CMT: ,23\n07913366003051F5040B913366304381F900005180719120348004D4F29C0E",
	// AT+CPMS=? (3GPP TS 27.005 §3.2.2) and URCs mixed into an answer.
	`+CPMS: ("SM","ME","SR"),("SM","ME"),("SM","ME")` + "\nRING\n^RSSI: 17\n+QIND: SMS DONE\nOK",
	// +CUSD (3GPP TS 27.007 §7.15): text, and Huawei's packed hex of
	// "*100#" (AA180C3602, as sent with AT+CUSD=1,"AA180C3602",15).
	`+CUSD: 0,"Ihr Guthaben: 5,00 EUR",15`,
	`+CUSD: 0,"AA180C3602",15`,
	`+CUSD: 0,"00480061006C006C006F",72`,
	`+COPS: 0,0,"Telekom.de, DE",7`,
	"+CME ERROR: 10\n+CMS ERROR: 500",
}

// FuzzATResponse treats its input as lines a modem wrote and runs them
// through the parsing the driver does: filtering URCs out of a command's
// answer, pairing +CMGL headers with their PDUs, splitting parameter
// lists, decoding +CUSD answers, and handling an indication (+CMT, +CDS,
// +CMTI, +CDSI) on a modem that is offline. It checks the invariants of
// each step: filtering only removes URC lines and keeps the command's
// own answer; every +CMGL entry is the line after its header; a routed
// message reaches the handler exactly when its PDU is valid hex with a
// well-formed SMSC field, and then as the TPDU behind that field; USSD
// text survives packing and unpacking.
func FuzzATResponse(f *testing.F) {
	for _, s := range atSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		lines := strings.Split(strings.ReplaceAll(s, "\r\n", "\n"), "\n")
		checkFilter(t, "+CMGL=4", lines)
		checkFilter(t, "+CREG?", lines)
		checkCMGL(t, lines)
		for _, l := range lines {
			checkFields(t, l)
			if a := answer(l); strings.HasPrefix(a, `"`) || strings.HasSuffix(a, `"`) {
				t.Fatalf("answer(%q) = %q keeps a quote", l, a)
			}
			if rest, ok := strings.CutPrefix(l, "+CUSD:"); ok {
				checkUSSD(t, rest)
			}
		}
		_ = parseMemories(lines)
		checkEvent(t, lines)
	})
}

func checkFilter(t *testing.T, cmd string, lines []string) {
	in := slices.Clone(lines)
	got := filterURCs(cmd, slices.Clone(lines))
	own := cmdID(cmd) + ":"
	j := 0
	for _, l := range in {
		keep := strings.HasPrefix(l, own) || !isURC(l)
		if keep {
			if j >= len(got) || got[j] != l {
				t.Fatalf("filterURCs(%q, %q) = %q: line %q missing", cmd, in, got, l)
			}
			j++
		}
	}
	if j != len(got) {
		t.Fatalf("filterURCs(%q, %q) = %q: extra lines", cmd, in, got)
	}
}

func checkCMGL(t *testing.T, lines []string) {
	msgs := parseCMGL(lines)
	i := 0
	for _, m := range msgs {
		// The entry's header is at or after i, its PDU right after it.
		for i < len(lines) && !(strings.HasPrefix(lines[i], "+CMGL:") && i+1 < len(lines) && lines[i+1] == m.pdu) {
			i++
		}
		if i >= len(lines) {
			t.Fatalf("parseCMGL(%q): entry %+v is not a header followed by its PDU", lines, m)
		}
		if strings.HasPrefix(m.pdu, "+CMGL:") {
			t.Fatalf("parseCMGL(%q): a header taken as PDU: %+v", lines, m)
		}
		f := fields(strings.TrimSpace(lines[i][6:]))
		if idx, ok := atoi(f[0]); !ok || idx != m.index {
			t.Fatalf("parseCMGL(%q): index %d from header %q", lines, m.index, lines[i])
		}
		i += 2
	}
}

// checkFields: fields splits at every comma outside quotes, so there is
// one more field than such commas, and a field never starts or ends with
// space or a quote.
func checkFields(t *testing.T, l string) {
	commas, q := 0, false
	for i := 0; i < len(l); i++ {
		switch l[i] {
		case '"':
			q = !q
		case ',':
			if !q {
				commas++
			}
		}
	}
	f := fields(l)
	if len(f) != commas+1 {
		t.Fatalf("fields(%q) = %q: %d fields for %d separating commas", l, f, len(f), commas)
	}
	for _, x := range f {
		if strings.HasPrefix(x, `"`) || strings.HasSuffix(x, `"`) {
			t.Fatalf("fields(%q) = %q: quote left", l, f)
		}
	}
}

func checkUSSD(t *testing.T, rest string) {
	f := fields(strings.TrimSpace(rest))
	if len(f) < 2 {
		return
	}
	dcs, _ := atoi(f[len(f)-1])
	for _, packed := range []bool{false, true} {
		_ = decodeUSSD(f[1], dcs, packed)
	}
	// Packing then unpacking gives the septets back. Excluded: a text
	// whose last septet is CR or @ (0) on an octet boundary, which the
	// receiving side reads as padding (3GPP TS 23.038 §6.1.2.3.1; Huawei
	// sticks pad with 0).
	septets, ok := sms.GSM7Septets(f[1])
	if !ok || len(septets) == 0 {
		return
	}
	if last := septets[len(septets)-1]; len(septets)%8 == 0 && (last == '\r' || last == 0) {
		return
	}
	b, err := hex.DecodeString(packUSSD(f[1]))
	if err != nil {
		t.Fatalf("packUSSD(%q) is not hex: %v", f[1], err)
	}
	if got := unpackUSSD(b); !bytes.Equal(got, septets) {
		t.Fatalf("USSD %q: packed %X unpacks to %v, want %v", f[1], b, got, septets)
	}
	if got := decodeUSSD(packUSSD(f[1]), 15, true); got != sms.GSM7Text(septets) {
		t.Fatalf("USSD %q: decodes to %q", f[1], got)
	}
}

// checkEvent handles lines as an indication on a modem without a
// connection: +CMT/+CDS go to the handlers straight from the line,
// +CMTI/+CDSI find no connection to read with.
func checkEvent(t *testing.T, lines []string) {
	if len(lines) == 0 || len(lines[0]) < 6 {
		return
	}
	var pdus, reports int
	var got []byte
	m := New(Config{Name: "fuzz", Logger: slog.New(slog.DiscardHandler)}, Handlers{
		PDU: func(_ context.Context, _ string, tp []byte) error {
			pdus++
			got = slices.Clone(tp)
			return nil
		},
		StatusReport: func(_ context.Context, _ string, sr sms.StatusReport) error {
			reports++
			if sr.Outcome == "" {
				t.Fatalf("status report without outcome: %+v", sr)
			}
			return nil
		},
	})
	defer m.Close()
	m.processEvent(context.Background(), lines)
	head := lines[0]
	routed := (strings.HasPrefix(head, "+CMT:") || strings.HasPrefix(head, "+CDS:")) && len(lines) >= 2
	var raw, tp []byte
	valid := false
	if routed {
		var err error
		if raw, err = hex.DecodeString(strings.TrimSpace(lines[1])); err == nil {
			_, tp, err = sms.SplitSMSC(raw)
			valid = err == nil
		}
	}
	switch {
	case !valid:
		if pdus+reports != 0 {
			t.Fatalf("%q: handlers called %d+%d times for no valid routed PDU", lines, pdus, reports)
		}
	case sms.IsStatusReport(tp):
		_, err := sms.DecodeStatusReport(tp)
		if want := btoi(err == nil); pdus != 0 || reports != want {
			t.Fatalf("%q: %d PDUs and %d reports, want 0 and %d", lines, pdus, reports, want)
		}
	default:
		if pdus != 1 || reports != 0 || !bytes.Equal(got, tp) {
			t.Fatalf("%q: %d PDUs (%X) and %d reports, want the TPDU %X once", lines, pdus, got, reports, tp)
		}
		if int(raw[0])+1+len(got) != len(raw) {
			t.Fatalf("%q: TPDU of %d octets from %d with SMSC length %d", lines, len(got), len(raw), raw[0])
		}
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
