package sms

import (
	"fmt"
	"sync/atomic"
	"unicode/utf16"
	"unicode/utf8"
)

// TP-DCS values (3GPP TS 23.038 §4, general data coding, no class).
const (
	dcsGSM7 = 0x00
	dcsUCS2 = 0x08
)

// SMS-SUBMIT first octet bits (3GPP TS 23.040 §9.2.2.2).
const (
	foSubmit = 0x01
	foSRR    = 0x20 // status report requested
	foUDHI   = 0x40 // user data starts with a header
)

// Encoder builds SMS-SUBMIT TPDUs. Each concatenated message gets a fresh
// 8-bit reference, so a phone never mixes the parts of two messages to the
// same number (warthog618/sms's SendLongMessage reuses reference 1). One
// Encoder per modem (SIM); it is safe for concurrent use.
type Encoder struct {
	ref atomic.Uint32
}

// NewEncoder returns an Encoder whose next concatenation reference follows
// lastRef. Seed it with the value LastRef returned before a restart (persist
// it per SIM) so references do not start over at the same number.
func NewEncoder(lastRef uint8) *Encoder {
	e := &Encoder{}
	e.ref.Store(uint32(lastRef))
	return e
}

// LastRef is the concatenation reference used last, for persisting.
func (e *Encoder) LastRef() uint8 { return uint8(e.ref.Load()) }

// Part is one SMS-SUBMIT TPDU ready for AT+CMGS in PDU mode.
type Part struct {
	Seq   int // 1-based position in the message
	Total int // number of parts of the message
	// Ref is the concatenation reference shared by all parts of a
	// multi-part message; 0 and meaningless when Total is 1.
	Ref   int
	Units int    // septets or UCS-2 code units of text in this part
	TPDU  []byte // the SMS-SUBMIT TPDU, without SMSC address
}

// Len is the length argument of AT+CMGS: the TPDU's octets, not counting
// the SMSC address.
func (p Part) Len() int { return len(p.TPDU) }

// PDU is the hex string written after the AT+CMGS prompt: an empty SMSC
// address ("00": use the SIM's service centre) followed by the TPDU.
func (p Part) PDU() string {
	const digits = "0123456789ABCDEF"
	b := make([]byte, 2+2*len(p.TPDU))
	b[0], b[1] = '0', '0'
	for i, c := range p.TPDU {
		b[2+2*i] = digits[c>>4]
		b[3+2*i] = digits[c&0x0f]
	}
	return string(b)
}

// Submit encodes text to the number to as one or more SMS-SUBMIT TPDUs,
// split exactly as PlanText reports. statusReport requests a delivery report
// for every part. to is an international number with a leading + (E.164) or
// a national/short number of digits.
func (e *Encoder) Submit(to, text string, statusReport bool) ([]Part, error) {
	var addr [12]byte
	da, err := encodeAddress(addr[:0], to)
	if err != nil {
		return nil, err
	}
	if text == "" {
		return nil, fmt.Errorf("%w: nothing to send to %s", ErrEmpty, to)
	}
	if n := utf8.RuneCountInString(text); n > MaxChars {
		return nil, tooLong(n)
	}
	enc, units := measure(text)

	// Count parts first so every TPDU can carry the total and share one
	// backing array.
	_, total := split(text, enc, units, func(int, int, int) {})
	ref := 0
	if total > 1 {
		ref = int(uint8(e.ref.Add(1)))
	}
	parts := make([]Part, 0, total)
	buf := make([]byte, 0, total*(4+len(da)+140))
	split(text, enc, units, func(start, end, u int) {
		p := Part{Seq: len(parts) + 1, Total: total, Ref: ref, Units: u}
		off := len(buf)
		buf = appendSubmit(buf, da, text[start:end], enc, u, p, statusReport)
		p.TPDU = buf[off:len(buf):len(buf)]
		parts = append(parts, p)
	})
	return parts, nil
}

func appendSubmit(b, da []byte, text, enc string, units int, p Part, srr bool) []byte {
	fo := byte(foSubmit)
	if srr {
		fo |= foSRR
	}
	if p.Total > 1 {
		fo |= foUDHI
	}
	dcs := byte(dcsGSM7)
	if enc == UCS2 {
		dcs = dcsUCS2
	}
	b = append(b, fo, 0x00) // TP-MR 0: the modem assigns the reference
	b = append(b, da...)
	b = append(b, 0x00, dcs) // TP-PID: plain SMS

	var udh []byte
	var hdr [6]byte
	if p.Total > 1 {
		// IEI 0x00: concatenated SMS, 8-bit reference.
		hdr = [6]byte{0x05, 0x00, 0x03, byte(p.Ref), byte(p.Total), byte(p.Seq)}
		udh = hdr[:]
	}
	if enc == GSM7 {
		var septets [gsm7Single]byte
		s := septets[:0]
		for _, r := range text {
			code, ext, _ := septet(r)
			if ext {
				s = append(s, gsmEscape)
			}
			s = append(s, code)
		}
		// The header is counted in septets and the text starts on the next
		// septet boundary.
		hdrSeptets := (len(udh)*8 + 6) / 7
		fill := hdrSeptets*7 - len(udh)*8
		b = append(b, byte(hdrSeptets+len(s)))
		b = append(b, udh...)
		return pack7(b, s, fill)
	}
	b = append(b, byte(len(udh)+2*units))
	b = append(b, udh...)
	for _, r := range text {
		if r >= 0x10000 {
			r1, r2 := utf16.EncodeRune(r)
			b = append(b, byte(r1>>8), byte(r1), byte(r2>>8), byte(r2))
			continue
		}
		b = append(b, byte(r>>8), byte(r))
	}
	return b
}

// encodeAddress appends a TP-DA: digit count, type of address and the
// digits as swapped semi-octets.
func encodeAddress(b []byte, number string) ([]byte, error) {
	toa := byte(0x81) // unknown type, ISDN numbering plan
	digits := number
	if len(digits) > 0 && digits[0] == '+' {
		toa = 0x91 // international
		digits = digits[1:]
	}
	if len(digits) == 0 || len(digits) > 20 {
		return nil, fmt.Errorf("%w: %q must have 1 to 20 digits", ErrBadNumber, number)
	}
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return nil, fmt.Errorf("%w: %q may only contain digits after an optional leading +", ErrBadNumber, number)
		}
	}
	b = append(b, byte(len(digits)), toa)
	for i := 0; i < len(digits); i += 2 {
		lo := digits[i] - '0'
		hi := byte(0x0f)
		if i+1 < len(digits) {
			hi = digits[i+1] - '0'
		}
		b = append(b, hi<<4|lo)
	}
	return b, nil
}
