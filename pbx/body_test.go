package pbx

import (
	"strings"
	"testing"
)

// bodyText against the formats it reads: text/plain charsets (IANA names,
// RFC 2781 for UTF-16 byte order) and message/cpim (RFC 3862 §2, §3).
func TestBodyText(t *testing.T) {
	ok := []struct {
		name, ct, body, want string
	}{
		{"no Content-Type", "", "Hallo", "Hallo"},
		{"UTF-8", "text/plain;charset=UTF-8", "Grüße", "Grüße"},
		{"UTF-8 with BOM", "text/plain;charset=utf-8", "\xEF\xBB\xBFGrüße", "Grüße"},
		{"quoted charset", `text/plain; charset="iso-8859-1"`, "Gr\xfc\xdfe", "Grüße"},
		{"ISO-8859-15 euro", "text/plain;charset=ISO-8859-15", "\xa4", "€"},
		{"windows-1252 quotes", "text/plain;charset=windows-1252", "\x93ja\x94", "“ja”"},
		{"UTF-16 without BOM is big-endian", "text/plain;charset=UTF-16", "\x00G\x00r\x00\xfc", "Grü"},
		{"UTF-16LE", "text/plain;charset=UTF-16LE", "G\x00r\x00\xfc\x00", "Grü"},
		{"CPIM with LF only", "message/cpim", "From: <im:a@b>\n\nContent-Type: text/plain;charset=ISO-8859-1\n\n\xfcber", "über"},
		{"CPIM without message headers", "Message/CPIM", "\r\nContent-Type: text/plain\r\n\r\nHi", "Hi"},
		// No charset and not UTF-8 (baresip 1.0 sends "text/plain" with the
		// bytes as typed): read as Windows-1252, ISO-8859-1's superset.
		{"undeclared Latin-1", "text/plain", "Gr\xfc\xdfe \x80", "Grüße €"},
		{"no Content-Type, Latin-1", "", "K\xf6ln", "Köln"},
		{"undeclared UTF-8 stays UTF-8", "text/plain", "Köln", "Köln"},
	}
	for _, c := range ok {
		got, err := bodyText(c.ct, []byte(c.body))
		if err != nil || got != c.want {
			t.Errorf("%s: %q, %v; want %q", c.name, got, err, c.want)
		}
	}
	bad := []struct {
		name, ct, body string
		code           int
	}{
		{"unknown charset", "text/plain;charset=KOI8-R", "x", 415},
		{"HTML", "text/html", "<b>x</b>", 415},
		{"IMDN inside CPIM", "message/cpim", "From: <im:a@b>\r\n\r\nContent-Type: message/imdn+xml\r\n\r\n<imdn/>", 415},
		{"CPIM without Content-Type", "message/cpim", "From: <im:a@b>\r\n\r\n\r\nHi", 400},
		{"invalid UTF-8", "text/plain;charset=UTF-8", "Gr\xfc\xdfe", 400},
		{"broken Content-Type", "text/plain;charset", "x", 400},
	}
	for _, c := range bad {
		got, err := bodyText(c.ct, []byte(c.body))
		if err == nil || err.code != c.code {
			t.Errorf("%s: %q, %v; want %d", c.name, got, err, c.code)
		}
	}
}

// BenchmarkBodyText measures reading an extension's message body: a
// 160-character ISO-8859-1 text/plain (transcoded) and the same text in
// message/cpim (RFC 3862, headers as an RCS client sends them).
func BenchmarkBodyText(b *testing.B) {
	latin1 := []byte(strings.Repeat("Gr\xfc\xdfe aus K\xf6ln, ", 8))
	cpim := []byte("From: <sip:201@pbx>\r\nTo: <sip:+491701234567@pbx>\r\nDateTime: 2026-12-06T10:00:00Z\r\n" + // netscope: CPIM headers inside a body, never dialled
		"NS: imdn <urn:ietf:params:imdn>\r\nimdn.Message-ID: 34jk324j\r\n\r\n" +
		"Content-Type: text/plain;charset=ISO-8859-1\r\n\r\n" + string(latin1))
	for _, c := range []struct {
		name, ct string
		body     []byte
	}{{"latin1", "text/plain;charset=ISO-8859-1", latin1}, {"cpim", "message/cpim", cpim}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := bodyText(c.ct, c.body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
