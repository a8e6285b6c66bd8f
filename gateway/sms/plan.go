// Package sms plans, encodes and decodes SMS text and PDUs: how many parts a
// text needs and in which alphabet (for the portal and campaigns), the
// SMS-SUBMIT TPDUs the modem driver sends, and the SMS-DELIVER and
// SMS-STATUS-REPORT TPDUs it receives. Planning and encoding share one
// splitting routine so a plan always matches what is sent.
package sms

import (
	"errors"
	"fmt"
	"unicode/utf8"
)

// Encodings a text is sent in.
const (
	GSM7 = "GSM-7"
	UCS2 = "UCS-2"
)

// Limits from 3GPP TS 23.040: 140 octets of user data, minus 6 octets of
// concatenation header when a message has several parts.
const (
	// MaxChars is the longest text pbxgate accepts (characters, i.e. Unicode
	// code points), the same limit the portal and campaigns enforce.
	MaxChars = 1600

	gsm7Single = 160
	gsm7Multi  = 153
	ucs2Single = 70
	ucs2Multi  = 67
)

var (
	// ErrTooLong: the text has more than MaxChars characters.
	ErrTooLong = errors.New("sms: text too long")
	// ErrEmpty: there is no text to send.
	ErrEmpty = errors.New("sms: empty text")
	// ErrBadNumber: the destination is not a phone number an SMS can be sent to.
	ErrBadNumber = errors.New("sms: bad destination number")
)

// Plan describes how a text is sent.
type Plan struct {
	Encoding string `json:"encoding"` // GSM7 or UCS2
	Chars    int    `json:"chars"`    // characters (Unicode code points)
	Parts    int    `json:"parts"`    // SMS parts (1 for a single SMS)
	// Units used: GSM-7 septets (extension-table characters such as € cost
	// two) or UCS-2 code units (emoji and other characters outside the BMP
	// cost two).
	Units int `json:"units"`
	// PerPart is the capacity of one part in units: 160/70 for a single SMS,
	// 153/67 for each part of a concatenated one.
	PerPart int `json:"per_part"`
	// Left is how many units still fit into the last part.
	Left int `json:"left"`
}

// PlanText measures text as the driver will send it. For a text over
// MaxChars it returns the plan together with an error wrapping ErrTooLong, so
// an editor can still show the counts.
func PlanText(text string) (Plan, error) {
	p := Plan{Chars: utf8.RuneCountInString(text)}
	enc, units := measure(text)
	p.Encoding, p.Units = enc, units
	last := 0
	p.PerPart, p.Parts = split(text, enc, units, func(_, _, u int) { last = u })
	p.Left = p.PerPart - last
	if p.Chars > MaxChars {
		return p, tooLong(p.Chars)
	}
	return p, nil
}

func tooLong(chars int) error {
	return fmt.Errorf("%w: %d characters, at most %d are allowed; shorten the text or split it into several messages", ErrTooLong, chars, MaxChars)
}

// measure picks the encoding and counts the units the whole text needs.
func measure(text string) (enc string, units int) {
	for _, r := range text {
		_, ext, ok := septet(r)
		if !ok {
			return UCS2, ucs2Units(text)
		}
		units++
		if ext {
			units++
		}
	}
	return GSM7, units
}

func ucs2Units(text string) int {
	n := 0
	for _, r := range text {
		n += runeUnits(UCS2, r)
	}
	return n
}

// runeUnits is what one rune costs in enc. Invalid UTF-8 decodes as U+FFFD,
// which UCS-2 carries.
func runeUnits(enc string, r rune) int {
	if enc == GSM7 {
		if _, ext, _ := septet(r); ext {
			return 2
		}
		return 1
	}
	if r >= 0x10000 {
		return 2 // surrogate pair
	}
	return 1
}

// split cuts text into parts and calls part for each with its byte range in
// text and its units. A character is never split across parts: neither an
// escape sequence nor a surrogate pair. It returns the capacity per part and
// the number of parts. An empty text is one empty part.
func split(text, enc string, units int, part func(start, end, units int)) (perPart, parts int) {
	single, multi := gsm7Single, gsm7Multi
	if enc == UCS2 {
		single, multi = ucs2Single, ucs2Multi
	}
	if units <= single {
		part(0, len(text), units)
		return single, 1
	}
	start, used := 0, 0
	for i, r := range text {
		u := runeUnits(enc, r)
		if used+u > multi {
			part(start, i, used)
			parts++
			start, used = i, 0
		}
		used += u
	}
	part(start, len(text), used)
	return multi, parts + 1
}
