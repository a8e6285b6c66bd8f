package modemsim

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf16"

	"github.com/warthog618/sms"
	"github.com/warthog618/sms/encoding/gsm7"
	"github.com/warthog618/sms/encoding/pdumode"
	"github.com/warthog618/sms/encoding/tpdu"
)

// Encoding names the alphabet of a message part.
type Encoding string

// Encodings reported in SentPart.
const (
	EncodingGSM7 Encoding = "gsm7"
	EncodingUCS2 Encoding = "ucs2"
	Encoding8Bit Encoding = "8bit"
)

// Capacities of one TPDU user data field, single and with an 8-bit
// concatenation header (6 octets incl. UDHL = 7 septets with fill).
const (
	singleSeptets = 160
	concatSeptets = 153
	singleOctets  = 140
	concatOctets  = 134
)

// ErrTooLong is returned when a message cannot be split into the requested
// number of parts.
var ErrTooLong = errors.New("modemsim: message does not fit the requested number of parts")

// deliverSpec is what the network needs to build SMS-DELIVER TPDUs.
type deliverSpec struct {
	from   string
	text   string
	ucs2   bool
	parts  int
	class0 bool
	ref    byte
	scts   time.Time
}

// unit is the smallest piece of text that must not be split across parts:
// one character's septets (two with an escape) or UTF-16 code units (two
// for a surrogate pair, so emoji are never cut in half).
type unit []byte

func textUnits(text string, ucs2 bool) (units []unit, alpha tpdu.Alphabet) {
	if !ucs2 {
		all := make([]unit, 0, len(text))
		ok := true
		for _, r := range text {
			s, err := gsm7.Encode([]byte(string(r)))
			if err != nil {
				ok = false
				break
			}
			all = append(all, s)
		}
		if ok {
			return all, tpdu.Alpha7Bit
		}
	}
	units = make([]unit, 0, len(text))
	for _, r := range text {
		var u []byte
		for _, c := range utf16.Encode([]rune{r}) {
			u = append(u, byte(c>>8), byte(c))
		}
		units = append(units, u)
	}
	return units, tpdu.AlphaUCS2
}

func unitsLen(us []unit) int {
	n := 0
	for _, u := range us {
		n += len(u)
	}
	return n
}

// splitUnits splits units into chunks. With parts == 0 the split is the
// natural one (as few parts as possible); otherwise exactly parts chunks of
// near-equal size.
func splitUnits(us []unit, single, concat, parts int) ([][]unit, error) {
	if parts <= 0 {
		if unitsLen(us) <= single {
			return [][]unit{us}, nil
		}
		var out [][]unit
		var cur []unit
		n := 0
		for _, u := range us {
			if n+len(u) > concat {
				out = append(out, cur)
				cur, n = nil, 0
			}
			cur = append(cur, u)
			n += len(u)
		}
		return append(out, cur), nil
	}
	if parts == 1 {
		if unitsLen(us) > single {
			return nil, ErrTooLong
		}
		return [][]unit{us}, nil
	}
	if len(us) < parts {
		return nil, fmt.Errorf("modemsim: %d characters cannot be split into %d parts: %w", len(us), parts, ErrTooLong)
	}
	out := make([][]unit, parts)
	per, extra := len(us)/parts, len(us)%parts
	i := 0
	for p := 0; p < parts; p++ {
		n := per
		if p < extra {
			n++
		}
		out[p] = us[i : i+n]
		i += n
		if unitsLen(out[p]) > concat {
			return nil, ErrTooLong
		}
	}
	return out, nil
}

func address(number string) tpdu.Address {
	a := tpdu.NewAddress()
	if isDialable(number) {
		a.SetNumber(number)
		if !strings.HasPrefix(number, "+") {
			a.SetTypeOfNumber(tpdu.TonUnknown)
		}
		return a
	}
	a.SetTypeOfNumber(tpdu.TonAlphanumeric)
	a.SetNumberingPlan(tpdu.NpUnknown)
	a.Addr = number
	return a
}

func isDialable(s string) bool {
	s = strings.TrimPrefix(s, "+")
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// encodeDeliver builds the SMS-DELIVER TPDUs of one inbound message.
func encodeDeliver(d deliverSpec) ([]*tpdu.TPDU, error) {
	us, alpha := textUnits(d.text, d.ucs2)
	single, concat := singleSeptets, concatSeptets
	if alpha == tpdu.AlphaUCS2 {
		single, concat = singleOctets, concatOctets
	}
	chunks, err := splitUnits(us, single, concat, d.parts)
	if err != nil {
		return nil, err
	}
	if len(chunks) > 255 {
		return nil, fmt.Errorf("modemsim: %d parts, a concatenated SMS has at most 255: %w", len(chunks), ErrTooLong)
	}
	dcs := tpdu.DCS(0x00)
	if alpha == tpdu.AlphaUCS2 {
		dcs = tpdu.DcsUCS2Data
	}
	if d.class0 {
		dcs |= 0x10 // message class present, class 0
	}
	out := make([]*tpdu.TPDU, 0, len(chunks))
	for i, c := range chunks {
		t, err := tpdu.NewDeliver()
		if err != nil {
			return nil, err
		}
		t.OA = address(d.from)
		t.SCTS = tpdu.Timestamp{Time: d.scts}
		t.SetDCS(byte(dcs))
		if len(chunks) > 1 {
			t.SetUDH(tpdu.UserDataHeader{{ID: 0, Data: []byte{d.ref, byte(len(chunks)), byte(i + 1)}}})
		}
		ud := make([]byte, 0, unitsLen(c))
		for _, u := range c {
			ud = append(ud, u...)
		}
		t.SetUD(ud)
		out = append(out, t)
	}
	return out, nil
}

// deliverFromSubmit turns a part a simulated modem submitted into the
// DELIVER its recipient receives: same user data, header and coding.
func deliverFromSubmit(sub *tpdu.TPDU, from string, scts time.Time) (*tpdu.TPDU, error) {
	t, err := tpdu.NewDeliver()
	if err != nil {
		return nil, err
	}
	t.OA = address(from)
	t.SCTS = tpdu.Timestamp{Time: scts}
	t.SetPID(sub.PID)
	t.SetDCS(byte(sub.DCS))
	if len(sub.UDH) > 0 {
		t.SetUDH(append(tpdu.UserDataHeader(nil), sub.UDH...))
	}
	t.SetUD(append([]byte(nil), sub.UD...))
	return t, nil
}

// statusReport builds the SMS-STATUS-REPORT for a submitted part.
func statusReport(mr byte, recipient string, submitted, done time.Time, status byte) (*tpdu.TPDU, error) {
	t, err := tpdu.New(tpdu.SmsStatusReport)
	if err != nil {
		return nil, err
	}
	t.MR = mr
	t.RA = address(recipient)
	t.SCTS = tpdu.Timestamp{Time: submitted}
	t.DT = tpdu.Timestamp{Time: done}
	t.ST = status
	return t, nil
}

// pduHex renders a TPDU as the modem prints it in PDU mode: SMSC address
// then TPDU, upper-case hex. It returns the TPDU length in octets too.
func pduHex(smsc string, t *tpdu.TPDU) (string, int, error) {
	b, err := t.MarshalBinary()
	if err != nil {
		return "", 0, err
	}
	p := pdumode.PDU{TPDU: b}
	if smsc != "" {
		p.SMSC.SetNumber(smsc)
	}
	s, err := p.MarshalHexString()
	if err != nil {
		return "", 0, err
	}
	return strings.ToUpper(s), len(b), nil
}

// parseSubmit parses the hex a driver typed after the "> " prompt.
// length is the <length> argument of AT+CMGS (TPDU octets, SMSC excluded).
func parseSubmit(hexPDU string, length int) (*tpdu.TPDU, error) {
	raw, err := hex.DecodeString(hexPDU)
	if err != nil {
		return nil, fmt.Errorf("PDU is not hex: %w", err)
	}
	p, err := pdumode.UnmarshalBinary(raw)
	if err != nil {
		return nil, fmt.Errorf("PDU SMSC field: %w", err)
	}
	if len(p.TPDU) != length {
		return nil, fmt.Errorf("AT+CMGS length %d but TPDU has %d octets", length, len(p.TPDU))
	}
	t, err := sms.Unmarshal(p.TPDU, sms.AsMO)
	if err != nil {
		return nil, fmt.Errorf("TPDU: %w", err)
	}
	if t.SmsType() != tpdu.SmsSubmit {
		return nil, fmt.Errorf("TPDU is %v, not SMS-SUBMIT", t.SmsType())
	}
	return t, nil
}

func encodingOf(t *tpdu.TPDU) Encoding {
	a, _ := t.Alphabet()
	switch a {
	case tpdu.AlphaUCS2:
		return EncodingUCS2
	case tpdu.Alpha8Bit:
		return Encoding8Bit
	}
	return EncodingGSM7
}

func isClass2(t *tpdu.TPDU) bool {
	c, err := t.DCS.Class()
	return err == nil && c == tpdu.MClass2
}

// textOf decodes the text of a single TPDU (best effort: a part ending in
// half a surrogate pair yields what can be decoded).
func textOf(ts ...*tpdu.TPDU) string {
	b, _ := sms.Decode(ts)
	return string(b)
}

func decodeTPDUHex(s string) (*tpdu.TPDU, error) {
	b, err := hex.DecodeString(s)
	if err != nil {
		return nil, err
	}
	return sms.Unmarshal(b, sms.AsMO)
}
