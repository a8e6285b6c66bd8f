package sms

import (
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	wsms "github.com/warthog618/sms"
	"github.com/warthog618/sms/encoding/gsm7/charset"
	"github.com/warthog618/sms/encoding/tpdu"
	"github.com/warthog618/sms/encoding/ucs2"
)

// The hand-written alphabet must agree with warthog618's tables in both
// directions, including every extension-table character.
func TestAlphabetMatchesReference(t *testing.T) {
	t.Parallel()
	basic := charset.DefaultEncoder()
	ext := charset.DefaultExtEncoder()
	for r, want := range basic {
		if r == gsmEscape {
			continue // the escape itself is no character
		}
		code, isExt, ok := septet(r)
		if !ok || isExt || code != want {
			t.Errorf("septet(%q) = %#x ext=%v ok=%v, want %#x basic", r, code, isExt, ok, want)
		}
	}
	for r, want := range ext {
		if _, inBasic := basic[r]; inBasic {
			continue
		}
		code, isExt, ok := septet(r)
		if !ok || !isExt || code != want {
			t.Errorf("septet(%q) = %#x ext=%v ok=%v, want %#x extension", r, code, isExt, ok, want)
		}
	}
	for r := rune(0); r < 0x3000; r++ {
		_, inBasic := basic[r]
		inBasic = inBasic && r != gsmEscape
		_, inExt := ext[r]
		if _, _, ok := septet(r); ok != (inBasic || inExt) {
			t.Errorf("septet(%U) ok=%v, reference has it: %v", r, ok, inBasic || inExt)
		}
	}
	dec := charset.DefaultDecoder()
	for code := byte(0); code < 0x80; code++ {
		if code == gsmEscape {
			continue
		}
		if got := decodeSeptets([]byte{code}); got != string(dec[code]) {
			t.Errorf("decode %#x = %q, want %q", code, got, string(dec[code]))
		}
	}
}

func TestGSM7Septets(t *testing.T) {
	t.Parallel()
	s, ok := GSM7Septets("A€@")
	if !ok || string(s) != "A\x1b\x65\x00" {
		t.Fatalf("GSM7Septets = %q, %v", s, ok)
	}
	if GSM7Text(s) != "A€@" {
		t.Fatalf("GSM7Text = %q", GSM7Text(s))
	}
	if _, ok := GSM7Septets("ç"); ok {
		t.Fatal("ç is not GSM-7")
	}
}

func TestPlanText(t *testing.T) {
	t.Parallel()
	rep := strings.Repeat
	tests := []struct {
		name                    string
		text                    string
		enc                     string
		parts, units, per, left int
	}{
		{"empty", "", GSM7, 1, 0, 160, 160},
		{"hello", "Hello, world!", GSM7, 1, 13, 160, 147},
		{"gsm accents", "Grüße à Æsop ¿Ñ?", GSM7, 1, 16, 160, 144},
		{"gsm 160", rep("a", 160), GSM7, 1, 160, 160, 0},
		{"gsm 161", rep("a", 161), GSM7, 2, 161, 153, 145},
		{"gsm 153x2", rep("a", 306), GSM7, 2, 306, 153, 0},
		{"gsm 153x2+1", rep("a", 307), GSM7, 3, 307, 153, 152},
		{"gsm 1600", rep("a", 1600), GSM7, 11, 1600, 153, 83},
		{"extension chars", "€[]{}~^\\|", GSM7, 1, 18, 160, 142},
		{"euro 80 fits", rep("€", 80), GSM7, 1, 160, 160, 0},
		// 76 € fill 152 septets; the 77th would straddle the boundary.
		{"escape not split", rep("€", 81), GSM7, 2, 162, 153, 143},
		{"ucs2 70", rep("ç", 70), UCS2, 1, 70, 70, 0},
		{"ucs2 71", rep("ç", 71), UCS2, 2, 71, 67, 63},
		{"ucs2 67x3", rep("ж", 201), UCS2, 3, 201, 67, 0},
		{"one emoji forces ucs2", "Hi 😀", UCS2, 1, 5, 70, 65},
		{"emoji 35", rep("😀", 35), UCS2, 1, 70, 70, 0},
		{"surrogate not split", rep("😀", 36), UCS2, 2, 72, 67, 61},
		{"surrogate at boundary", rep("a", 66) + "😀" + rep("a", 10), UCS2, 2, 78, 67, 55},
		{"ucs2 1600 emoji", rep("😀", 1600), UCS2, 49, 3200, 67, 35},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := PlanText(tc.text)
			if err != nil {
				t.Fatal(err)
			}
			want := Plan{Encoding: tc.enc, Chars: utf8.RuneCountInString(tc.text), Parts: tc.parts, Units: tc.units, PerPart: tc.per, Left: tc.left}
			if p != want {
				t.Fatalf("PlanText = %+v, want %+v", p, want)
			}
			if tc.text == "" {
				return
			}
			parts, err := NewEncoder(0).Submit("+4917012345678", tc.text, false)
			if err != nil {
				t.Fatal(err)
			}
			if len(parts) != p.Parts {
				t.Fatalf("Submit made %d parts, plan says %d", len(parts), p.Parts)
			}
			sum := 0
			for _, pt := range parts {
				sum += pt.Units
			}
			if sum != p.Units || parts[len(parts)-1].Units != p.PerPart-p.Left {
				t.Fatalf("Submit units %d (last %d) disagree with plan %+v", sum, parts[len(parts)-1].Units, p)
			}
		})
	}
}

func TestPlanTooLong(t *testing.T) {
	t.Parallel()
	p, err := PlanText(strings.Repeat("a", 1601))
	if !errors.Is(err, ErrTooLong) || !strings.Contains(err.Error(), "1601") {
		t.Fatalf("err = %v, want ErrTooLong naming the length", err)
	}
	if p.Parts != 11 || p.Chars != 1601 {
		t.Fatalf("plan of a too long text still reports counts: %+v", p)
	}
	if _, err := NewEncoder(0).Submit("+491701", strings.Repeat("😀", 1601), false); !errors.Is(err, ErrTooLong) {
		t.Fatalf("Submit err = %v, want ErrTooLong", err)
	}
}

func TestSubmitErrors(t *testing.T) {
	t.Parallel()
	e := NewEncoder(0)
	for _, to := range []string{"", "+", "+49 170 123", "0170-123", "abc", strings.Repeat("1", 21)} {
		if _, err := e.Submit(to, "hi", false); !errors.Is(err, ErrBadNumber) {
			t.Errorf("Submit(%q) err = %v, want ErrBadNumber", to, err)
		}
	}
	if _, err := e.Submit("+491701", "", false); !errors.Is(err, ErrEmpty) {
		t.Errorf("empty text err = %v, want ErrEmpty", err)
	}
	if e.LastRef() != 0 {
		t.Errorf("failed submits consumed a reference: %d", e.LastRef())
	}
}

// Every TPDU is checked by an independent decoder (warthog618/sms), then
// turned into the SMS-DELIVER the recipient gets and reassembled by Join
// from shuffled parts.
func TestSubmitRoundTrip(t *testing.T) {
	t.Parallel()
	rep := strings.Repeat
	texts := map[string]string{
		"gsm":            "Hello @ £5, Grüße!",
		"extension":      "Price: 10€ [a] {b} ~c^ \\d| end",
		"escape at edge": rep("x", 152) + "€" + rep("y", 10),
		"ucs2":           "Привет, мир! Zażółć gęślą jaźń",
		"emoji":          "Party 🎉🎉 tonight 👍🏽",
		"emoji at edge":  rep("a", 66) + "😀" + rep("b", 70),
		"gsm 1600":       rep("0123456789", 160),
		"ucs2 1600":      rep("ü😀ж", 533) + "x",
		"newlines":       "line1\nline2\r\nline3\f",
	}
	for name, text := range texts {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			const to = "+4917012345678"
			parts, err := NewEncoder(41).Submit(to, text, true)
			if err != nil {
				t.Fatal(err)
			}
			plan, _ := PlanText(text)
			var delivers []Deliver
			for i, p := range parts {
				if p.Seq != i+1 || p.Total != len(parts) {
					t.Fatalf("part %d: Seq/Total %d/%d", i, p.Seq, p.Total)
				}
				if p.Len() != len(p.TPDU) || p.PDU()[:2] != "00" || len(p.PDU()) != 2+2*p.Len() {
					t.Fatalf("part %d: PDU %q does not match length %d", i, p.PDU(), p.Len())
				}
				ref, err := wsms.Unmarshal(p.TPDU, wsms.AsMO)
				if err != nil {
					t.Fatalf("part %d: reference decoder rejects TPDU %X: %v", i, p.TPDU, err)
				}
				if ref.SmsType() != tpdu.SmsSubmit || ref.DA.Number() != to {
					t.Fatalf("part %d: type %v to %q", i, ref.SmsType(), ref.DA.Number())
				}
				if ref.FirstOctet&0x20 == 0 {
					t.Fatalf("part %d: status report not requested", i)
				}
				total, seq, mref, ok := ref.ConcatInfo()
				if len(parts) > 1 && (!ok || total != len(parts) || seq != i+1 || mref != 42) {
					t.Fatalf("part %d: concat info %d/%d ref %d ok=%v", i, seq, total, mref, ok)
				}
				alpha, _ := ref.Alphabet()
				if (alpha == tpdu.AlphaUCS2) != (plan.Encoding == UCS2) {
					t.Fatalf("part %d: alphabet %v, plan %s", i, alpha, plan.Encoding)
				}
				if alpha == tpdu.AlphaUCS2 {
					// No part may end in half a surrogate pair.
					if _, err := ucs2.Decode(ref.UD); err != nil {
						t.Fatalf("part %d: %v", i, err)
					}
				}
				d, err := DecodeDeliver(deliverFromSubmit(t, p.TPDU))
				if err != nil {
					t.Fatalf("part %d: %v", i, err)
				}
				if d.From != to || d.Encoding != plan.Encoding || d.Total != len(parts) || d.Seq != i+1 {
					t.Fatalf("part %d decoded as %+v", i, d)
				}
				delivers = append(delivers, d)
			}
			rng := rand.New(rand.NewPCG(1, uint64(len(text))))
			rng.Shuffle(len(delivers), func(i, j int) { delivers[i], delivers[j] = delivers[j], delivers[i] })
			got, err := Join(delivers)
			if err != nil {
				t.Fatal(err)
			}
			if got != text {
				t.Fatalf("round trip:\n got %q\nwant %q", got, text)
			}
		})
	}
}

func TestFreshReferencePerMessage(t *testing.T) {
	t.Parallel()
	e := NewEncoder(254)
	long := strings.Repeat("a", 200)
	var refs []int
	for range 3 {
		parts, err := e.Submit("+491701", long, false)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range parts {
			if p.Ref != parts[0].Ref {
				t.Fatalf("parts of one message carry refs %d and %d", parts[0].Ref, p.Ref)
			}
		}
		refs = append(refs, parts[0].Ref)
	}
	if refs[0] != 255 || refs[1] != 0 || refs[2] != 1 {
		t.Fatalf("refs = %v, want 255 0 1 (fresh, wrapping)", refs)
	}
	if e.LastRef() != 1 {
		t.Fatalf("LastRef = %d, want 1", e.LastRef())
	}
	single, _ := e.Submit("+491701", "short", false)
	if single[0].Ref != 0 || single[0].TPDU[0]&foUDHI != 0 || e.LastRef() != 1 {
		t.Fatalf("a single SMS must not carry or consume a reference: %+v", single[0])
	}
}

func TestJoinIncomplete(t *testing.T) {
	t.Parallel()
	parts, _ := NewEncoder(0).Submit("+491701", strings.Repeat("a", 400), false)
	var ds []Deliver
	for _, p := range parts {
		d, err := DecodeDeliver(deliverFromSubmit(t, p.TPDU))
		if err != nil {
			t.Fatal(err)
		}
		ds = append(ds, d)
	}
	if _, err := Join(ds[:2]); !errors.Is(err, ErrIncomplete) {
		t.Fatalf("2 of 3 parts: err = %v", err)
	}
	if _, err := Join([]Deliver{ds[0], ds[0], ds[2]}); !errors.Is(err, ErrIncomplete) {
		t.Fatalf("duplicate part: err = %v", err)
	}
}

func TestDecodeStatusReport(t *testing.T) {
	t.Parallel()
	ra, err := encodeAddress(nil, "+4917012345678")
	if err != nil {
		t.Fatal(err)
	}
	ts := []byte{0x62, 0x11, 0x12, 0x32, 0x95, 0x00, 0x00} // 26-11-21 23:59:00 +00
	dt := []byte{0x62, 0x11, 0x22, 0x00, 0x10, 0x20, 0x00} // 26-11-22 00:01:02 +00
	for _, tc := range []struct {
		st      byte
		outcome string
	}{{0x00, Delivered}, {0x21, Pending}, {0x30, Pending}, {0x46, Failed}, {0x62, Failed}, {0x7f, Failed}} {
		b := append([]byte{0x06, 0x2a}, ra...)
		b = append(b, ts...)
		b = append(b, dt...)
		b = append(b, tc.st)
		sr, err := DecodeStatusReport(b)
		if err != nil {
			t.Fatal(err)
		}
		if sr.MR != 42 || sr.Recipient != "+4917012345678" || sr.Status != int(tc.st) || sr.Outcome != tc.outcome || sr.Reason == "" {
			t.Fatalf("ST %#x decoded as %+v, want outcome %s", tc.st, sr, tc.outcome)
		}
		if want := time.Date(2026, 11, 22, 0, 1, 2, 0, time.UTC); !sr.Discharge.Equal(want) {
			t.Fatalf("discharge %v, want %v", sr.Discharge, want)
		}
		if !IsStatusReport(b) {
			t.Fatal("IsStatusReport = false")
		}
		if _, err := DecodeDeliver(b); !errors.Is(err, ErrNotDeliver) {
			t.Fatalf("DecodeDeliver(status report) err = %v", err)
		}
	}
	if _, err := DecodeStatusReport([]byte{0x06, 0x2a, 0x0b}); !errors.Is(err, ErrBadPDU) {
		t.Fatalf("truncated report: err = %v", err)
	}
}

func TestSplitSMSC(t *testing.T) {
	t.Parallel()
	// SMSC +491710760000, then a TPDU.
	pdu := []byte{0x07, 0x91, 0x94, 0x71, 0x01, 0x67, 0x00, 0x00, 0x04, 0x0b}
	smsc, rest, err := SplitSMSC(pdu)
	if err != nil || smsc != "+491710760000" || len(rest) != 2 || rest[0] != 0x04 {
		t.Fatalf("SplitSMSC = %q %X %v", smsc, rest, err)
	}
	smsc, rest, err = SplitSMSC([]byte{0x00, 0x04})
	if err != nil || smsc != "" || len(rest) != 1 {
		t.Fatalf("no SMSC: %q %X %v", smsc, rest, err)
	}
	if _, _, err := SplitSMSC([]byte{0x07, 0x91}); !errors.Is(err, ErrBadPDU) {
		t.Fatalf("truncated: %v", err)
	}
}

// deliverFromSubmit turns an SMS-SUBMIT into the SMS-DELIVER the recipient
// would get (sender = the submit's destination, so the test can check it).
func deliverFromSubmit(t *testing.T, s []byte) []byte {
	t.Helper()
	fo := s[0]
	daLen := 2 + (int(s[2])+1)/2
	da := s[2 : 2+daLen]
	rest := s[2+daLen:]         // PID, DCS, UDL, UD (no VP: we never set one)
	d := []byte{fo&0x40 | 0x04} // DELIVER, UDHI kept, no more messages
	d = append(d, da...)
	d = append(d, rest[0], rest[1])
	d = append(d, 0x62, 0x11, 0x12, 0x32, 0x95, 0x00, 0x00)
	return append(d, rest[2:]...)
}

func BenchmarkSubmit(b *testing.B) {
	for _, bc := range []struct{ name, text string }{
		{"gsm-short", "Your appointment is confirmed for Monday 10:00. Reply STOP to opt out."},
		{"gsm-1600", strings.Repeat("0123456789", 160)},
		{"ucs2-emoji-400", strings.Repeat("Grüße 😀 ", 50)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			e := NewEncoder(0)
			b.ReportAllocs()
			for b.Loop() {
				parts, err := e.Submit("+4917012345678", bc.text, true)
				if err != nil || len(parts) == 0 {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkPlanText(b *testing.B) {
	text := strings.Repeat("Grüße 😀 ", 50)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := PlanText(text); err != nil {
			b.Fatal(err)
		}
	}
}
