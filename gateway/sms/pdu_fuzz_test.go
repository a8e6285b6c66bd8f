package sms

import (
	"encoding/hex"
	"errors"
	"testing"
	"unicode/utf8"

	"github.com/warthog618/sms/encoding/tpdu"
)

// Received PDUs (SMSC address + TPDU, as AT+CMGR, AT+CMGL, +CMT and +CDS
// give them in PDU mode) from real modems, copied from public logs:
var realPDUs = []string{
	// Huawei E1752, AT+CMGL=4 "+CMGL: 0,0,,23": 7-bit "Test" from
	// +33660334189 (gammu/gammu issue #126, gammu-smsd debug log).
	"07913366003051F5040B913366304381F900005180719120348004D4F29C0E",
	// AT+CMGR=7 "+CMGR: 0,,29": 7-bit SMS-DELIVER with TP-SRI set
	// (faucamp/python-gsmmodem issue #44).
	"0791198904100161240C911979099137640000511090718303220BC8B4421174CFD175D014",
	// "+CDS: 25": the SMS-STATUS-REPORT (MR 64) for the "+CMGS: 64" in the same
	// log, TP-ST 00 (faucamp/python-gsmmodem issue #44).
	"079119890400202306400C91197909913764511090718384225110907183252200",
	// AT+CMGR "+CMGR: 0,,159": UCS-2 part 1 of 2 (8-bit concatenation
	// reference 0x25), Arabic text, from a Huawei dongle
	// (wdoekes/asterisk-chan-dongle pull request #77).
	"0791695650309199400C916956854351020008025040228201218C05000325020106450631062D06280627002006450631062D06280627002006450631062D062806270020002006450631062D06280627002006450631062D06280627002006450631062D062806270020002000200020002006450631062D06280627002006450631062D06280627002006450631062D062806270020002006450631062D0628062700200645",
}

// Built field by field after 3GPP TS 23.040 §9.2.2.1 (SMS-DELIVER) and
// §9.2.2.3 (SMS-STATUS-REPORT), for the cases the logs above lack.
var specPDUs = []string{
	// No SMSC address (length 00), alphanumeric TP-OA (TON 101, §9.1.2.5)
	// "Info" in 7-bit, text "hi".
	"00" + "04" + "07D049B7F90D" + "00" + "00" + "62101201000000" + "02E834",
	// 16-bit concatenation reference (IEI 08, §9.2.3.24.8), UCS-2 "Hi",
	// part 2 of 3.
	"00" + "44" + "0B919471000000F0" + "00" + "08" + "62101201000000" + "0B" + "0608041234030200480069",
	// 8-bit data coding (TP-DCS 04), payload bytes FF 00.
	"00" + "04" + "0B919471000000F0" + "00" + "04" + "62101201000000" + "02FF00",
	// Status report, TP-ST 0x46 (validity period expired, §9.2.3.15).
	"00" + "06" + "17" + "0B919471000000F0" + "62101201000000" + "62101201050000" + "46",
	// Concatenation header claiming part 3 of 2.
	"00" + "44" + "0B919471000000F0" + "00" + "00" + "62101201000000" + "09" + "050003070203D069",
	// Empty and truncated.
	"", "00", "0791", "07913366003051F5040B91",
}

// FuzzDecodePDU feeds received PDUs (SMSC address and TPDU) through the
// path the modem driver takes (SplitSMSC, then DecodeStatusReport or
// DecodeDeliver) and checks what comes out, not only that nothing panics:
// the TPDU is what follows the SMSC address, a part number lies within
// its total, text is valid UTF-8, a status report has an outcome, and the
// text of every decoded message survives a round trip through the encoder
// (SMS-SUBMIT parts read back with the independent warthog618/sms decoder
// and joined again).
func FuzzDecodePDU(f *testing.F) {
	for _, s := range append(append([]string{}, realPDUs...), specPDUs...) {
		b, err := hex.DecodeString(s)
		if err != nil {
			f.Fatalf("seed %q: %v", s, err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, pdu []byte) {
		_, tp, err := SplitSMSC(pdu)
		if err != nil {
			if !errors.Is(err, ErrBadPDU) {
				t.Fatalf("SplitSMSC error %v is not ErrBadPDU", err)
			}
			return
		}
		if want := len(pdu) - 1 - int(pdu[0]); len(tp) != want {
			t.Fatalf("TPDU of %d octets after an SMSC of %d, want %d", len(tp), pdu[0], want)
		}
		if IsStatusReport(tp) {
			sr, err := DecodeStatusReport(tp)
			if err != nil {
				if !errors.Is(err, ErrBadPDU) {
					t.Fatalf("status report error %v is not ErrBadPDU", err)
				}
				return
			}
			if sr.Outcome != Delivered && sr.Outcome != Pending && sr.Outcome != Failed || sr.Reason == "" {
				t.Fatalf("status report %+v without outcome or reason", sr)
			}
			if o, r := StatusOutcome(byte(sr.Status)); o != sr.Outcome || r != sr.Reason {
				t.Fatalf("status %d: outcome %q/%q, StatusOutcome says %q/%q", sr.Status, sr.Outcome, sr.Reason, o, r)
			}
			return
		}
		d, err := DecodeDeliver(tp)
		if err != nil {
			if !errors.Is(err, ErrBadPDU) && !errors.Is(err, ErrNotDeliver) {
				t.Fatalf("deliver error %v is neither ErrBadPDU nor ErrNotDeliver", err)
			}
			return
		}
		if d.Total < 1 || d.Seq < 1 || d.Seq > d.Total {
			t.Fatalf("part %d of %d", d.Seq, d.Total)
		}
		switch d.Encoding {
		case GSM7, UCS2, Binary:
		default:
			t.Fatalf("encoding %q", d.Encoding)
		}
		if !utf8.ValidString(d.Text) || !utf8.ValidString(d.From) {
			t.Fatalf("invalid UTF-8: from %q text %q", d.From, d.Text)
		}
		// One part is a whole message only when Total is 1; Join agrees
		// with the part's own text.
		if d.Total == 1 {
			if got, err := Join([]Deliver{d}); err != nil || got != d.Text {
				t.Fatalf("Join of a single part: %q, %v; part text %q", got, err, d.Text)
			}
		} else if _, err := Join([]Deliver{d}); !errors.Is(err, ErrIncomplete) {
			t.Fatalf("Join of part %d of %d: %v, want ErrIncomplete", d.Seq, d.Total, err)
		}
		roundTrip(t, d.Text)
	})
}

// roundTrip encodes text as SMS-SUBMIT parts and reads them back with
// warthog618/sms's TPDU decoder (MO direction): the joined text must be
// text again.
func roundTrip(t *testing.T, text string) {
	t.Helper()
	if text == "" || utf8.RuneCountInString(text) > MaxChars {
		return
	}
	parts, err := NewEncoder(0).Submit("+4917012345678", text, false)
	if err != nil {
		t.Fatalf("Submit(%q): %v", text, err)
	}
	ds := make([]Deliver, 0, len(parts))
	for _, p := range parts {
		var s tpdu.TPDU
		s.Direction = tpdu.MO
		if err := s.UnmarshalBinary(p.TPDU); err != nil {
			t.Fatalf("part %d of %q does not decode: %v (% X)", p.Seq, text, err, p.TPDU)
		}
		alpha, err := s.Alphabet()
		if err != nil {
			t.Fatal(err)
		}
		enc := GSM7
		if alpha == tpdu.AlphaUCS2 {
			enc = UCS2
		}
		total, seq, ref, ok := s.ConcatInfo()
		if !ok {
			total, seq, ref = 1, 1, 0
		}
		if total != p.Total || seq != p.Seq {
			t.Fatalf("part %d/%d of %q carries %d/%d", p.Seq, p.Total, text, seq, total)
		}
		ds = append(ds, Deliver{From: "x", Encoding: enc, Ref: ref, Seq: seq, Total: total, ud: s.UD})
	}
	got, err := Join(ds)
	if err != nil {
		t.Fatalf("joining the parts of %q: %v", text, err)
	}
	if got != text {
		t.Fatalf("round trip of %q gave %q", text, got)
	}
}

// The seeds decode to what their sources say, so the fuzzer starts from
// valid messages of every kind rather than from noise.
func TestFuzzSeedsDecode(t *testing.T) {
	dec := func(s string) []byte {
		b, err := hex.DecodeString(s)
		if err != nil {
			t.Fatal(err)
		}
		_, tp, err := SplitSMSC(b)
		if err != nil {
			t.Fatal(err)
		}
		return tp
	}
	if d, err := DecodeDeliver(dec(realPDUs[0])); err != nil || d.Text != "Test" || d.From != "+33660334189" {
		t.Fatalf("gammu #126 PDU: %+v, %v", d, err)
	}
	if d, err := DecodeDeliver(dec(realPDUs[1])); err != nil || d.From != "+919790197346" || d.Text != "Hi\n\nAnshu S" {
		t.Fatalf("python-gsmmodem #44 PDU: %+v, %v", d, err)
	}
	if sr, err := DecodeStatusReport(dec(realPDUs[2])); err != nil || sr.MR != 64 || sr.Outcome != Delivered {
		t.Fatalf("python-gsmmodem #44 report: %+v, %v", sr, err)
	}
	if d, err := DecodeDeliver(dec(realPDUs[3])); err != nil || d.Encoding != UCS2 || d.Total != 2 || d.Seq != 1 || d.Ref != 0x25 {
		t.Fatalf("chan-dongle #77 PDU: %+v, %v", d, err)
	}
	if d, err := DecodeDeliver(dec(specPDUs[0])); err != nil || d.From != "Info" || d.Text != "hi" {
		t.Fatalf("alphanumeric sender: %+v, %v", d, err)
	}
	if d, err := DecodeDeliver(dec(specPDUs[1])); err != nil || d.Ref != 0x1234 || d.Seq != 2 || d.Total != 3 || d.Text != "Hi" {
		t.Fatalf("16-bit reference: %+v, %v", d, err)
	}
	if d, err := DecodeDeliver(dec(specPDUs[2])); err != nil || d.Encoding != Binary || d.Text != "\u00ff\x00" {
		t.Fatalf("8-bit data: %+v, %v", d, err)
	}
	if sr, err := DecodeStatusReport(dec(specPDUs[3])); err != nil || sr.Outcome != Failed || sr.Status != 0x46 {
		t.Fatalf("expired report: %+v, %v", sr, err)
	}
	if _, err := DecodeDeliver(dec(specPDUs[4])); !errors.Is(err, ErrBadPDU) {
		t.Fatalf("part 3 of 2: %v, want ErrBadPDU", err)
	}
}
