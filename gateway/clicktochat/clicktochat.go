// Package clicktochat makes the links and QR codes that start a
// conversation with the gateway: wa.me links for WhatsApp and sms: links
// (RFC 5724) for SMS, each with a prefilled keyword (e.g. the one that
// joins a subscriber group), and their QR codes as PNG or SVG, generated on
// the box without any outside service.
package clicktochat

import (
	"bytes"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	qrcode "github.com/skip2/go-qrcode"
)

// ErrInvalid wraps every problem with the input.
var ErrInvalid = errors.New("invalid click-to-chat link")

// maxText keeps links short enough for a QR code a phone reads from print.
const maxText = 300

// digits returns number as wa.me wants it: international digits only
// ("+49 30 1234-56" and "0049301234556" become "4930123456").
func digits(number string) (string, error) {
	n := strings.TrimSpace(number)
	intl := strings.HasPrefix(n, "+") || strings.HasPrefix(n, "00")
	var b strings.Builder
	for _, r := range n {
		switch {
		case r >= '0' && r <= '9':
			b.WriteRune(r)
		case strings.ContainsRune("+ -()/.", r):
		default:
			return "", fmt.Errorf("%w: number %q contains %q", ErrInvalid, number, r)
		}
	}
	d := strings.TrimPrefix(b.String(), "00")
	if !intl {
		return "", fmt.Errorf("%w: number %q: give it in international form, e.g. +4930123456", ErrInvalid, number)
	}
	if len(d) < 6 || len(d) > 15 {
		return "", fmt.Errorf("%w: number %q: an international number has 6 to 15 digits", ErrInvalid, number)
	}
	return d, nil
}

func checkText(text string) error {
	if !utf8.ValidString(text) {
		return fmt.Errorf("%w: text is not valid UTF-8", ErrInvalid)
	}
	if n := utf8.RuneCountInString(text); n > maxText {
		return fmt.Errorf("%w: text has %d characters; keep the keyword under %d", ErrInvalid, n, maxText)
	}
	return nil
}

// WhatsApp returns https://wa.me/<digits>?text=<keyword>: opening it starts
// a chat with number with text typed in, ready to send.
func WhatsApp(number, text string) (string, error) {
	d, err := digits(number)
	if err != nil {
		return "", err
	}
	if err := checkText(text); err != nil {
		return "", err
	}
	link := "https://wa.me/" + d
	if text != "" {
		link += "?text=" + escape(text)
	}
	return link, nil
}

// SMS returns sms:+<digits>?body=<keyword> (RFC 5724): opening it starts
// an SMS to number with text prefilled.
func SMS(number, text string) (string, error) {
	d, err := digits(number)
	if err != nil {
		return "", err
	}
	if err := checkText(text); err != nil {
		return "", err
	}
	link := "sms:+" + d
	if text != "" {
		link += "?body=" + escape(text)
	}
	return link, nil
}

// escape encodes a query value with %20 for spaces: some phones show a
// '+' literally in the prefilled text.
func escape(text string) string {
	return strings.ReplaceAll(url.QueryEscape(text), "+", "%20")
}

// Level is the QR code's error correction: higher survives more damage
// (a logo on top, a worn poster) at the cost of a denser code.
type Level = qrcode.RecoveryLevel

// Error correction levels.
const (
	Low     = qrcode.Low
	Medium  = qrcode.Medium
	High    = qrcode.High
	Highest = qrcode.Highest
)

// PNG renders content (a link) as a size×size pixel PNG QR code with the
// standard quiet zone. size between 64 and 2048.
func PNG(content string, level Level, size int) ([]byte, error) {
	if size < 64 || size > 2048 {
		return nil, fmt.Errorf("%w: size %d: use 64 to 2048 pixels", ErrInvalid, size)
	}
	q, err := qrcode.New(content, level)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	b, err := q.PNG(size)
	if err != nil {
		return nil, fmt.Errorf("qr png: %w", err)
	}
	return b, nil
}

// SVG renders content as a scalable QR code: one path of unit squares in a
// viewBox of modules (quiet zone included), crisp at any print size.
func SVG(content string, level Level) ([]byte, error) {
	q, err := qrcode.New(content, level)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	bm := q.Bitmap() // includes the 4-module quiet zone
	n := len(bm)
	var b bytes.Buffer
	sz := strconv.Itoa(n)
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	b.WriteString(`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ` + sz + ` ` + sz + `" shape-rendering="crispEdges">` + "\n")
	b.WriteString(`<rect width="` + sz + `" height="` + sz + `" fill="#fff"/>` + "\n")
	b.WriteString(`<path fill="#000" d="`)
	for y, row := range bm {
		for x := 0; x < n; x++ {
			if !row[x] {
				continue
			}
			// Runs of dark modules become one rectangle: smaller files.
			run := 1
			for x+run < n && row[x+run] {
				run++
			}
			fmt.Fprintf(&b, "M%d %dh%dv1h-%dz", x, y, run, run)
			x += run - 1
		}
	}
	b.WriteString(`"/>` + "\n</svg>\n")
	return b.Bytes(), nil
}

// Telegram returns https://t.me/<bot>?start=<payload>: opening it opens the
// bot, and tapping Start sends "/start <payload>" (Telegram's deep
// linking: the payload is up to 64 characters A-Z, a-z, 0-9, _ and -).
// pbxgate takes /start as the opt-in keyword and remembers the payload
// (which poster or flyer the subscriber came from). bot is the bot's
// username, with or without @; payload may be empty.
func Telegram(bot, payload string) (string, error) {
	b := strings.TrimPrefix(strings.TrimSpace(bot), "@")
	if !botNameRE.MatchString(b) {
		return "", fmt.Errorf("%w: %q is not a Telegram bot username (5 to 32 characters a-z, 0-9 and _, ending in \"bot\")", ErrInvalid, bot)
	}
	link := "https://t.me/" + b
	if payload != "" {
		if !startPayloadRE.MatchString(payload) {
			return "", fmt.Errorf("%w: start parameter %q: use up to 64 characters A-Z, a-z, 0-9, _ and - (no spaces)", ErrInvalid, payload)
		}
		link += "?start=" + payload
	}
	return link, nil
}

var (
	botNameRE      = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]{3,30}[Bb][Oo][Tt]$`)
	startPayloadRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
)
