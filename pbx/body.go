package pbx

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/textproto"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/unicode"
)

// acceptTypes is the Accept header of 415 answers and OPTIONS: the bodies
// pbxgate reads (RFC 3261 §21.4.13: a 415 MUST list what is acceptable).
const acceptTypes = "text/plain;charset=UTF-8, text/plain;charset=ISO-8859-1, text/plain;charset=ISO-8859-15, " +
	"text/plain;charset=windows-1252, text/plain;charset=UTF-16, message/cpim"

// charsets are the charsets of text/plain bodies pbxgate transcodes to
// UTF-8 (nil: UTF-8 already). An absent charset is read as UTF-8, what
// SIP phones send.
var charsets = map[string]encoding.Encoding{
	"":             nil,
	"utf-8":        nil,
	"utf8":         nil,
	"us-ascii":     nil, // a subset of UTF-8
	"iso-8859-1":   charmap.ISO8859_1,
	"iso_8859-1":   charmap.ISO8859_1,
	"latin1":       charmap.ISO8859_1,
	"l1":           charmap.ISO8859_1,
	"iso-8859-15":  charmap.ISO8859_15,
	"windows-1252": charmap.Windows1252,
	"cp1252":       charmap.Windows1252,
	// RFC 2781 §4.3: UTF-16 without a byte order mark is big-endian.
	"utf-16":   unicode.UTF16(unicode.BigEndian, unicode.UseBOM),
	"utf-16be": unicode.UTF16(unicode.BigEndian, unicode.IgnoreBOM),
	"utf-16le": unicode.UTF16(unicode.LittleEndian, unicode.IgnoreBOM),
}

// bodyError is why a MESSAGE body cannot be read: 415 (a type or charset
// pbxgate does not read; the answer carries Accept) or 400.
type bodyError struct {
	code int
	why  string
}

func (e *bodyError) Error() string { return e.why }

// maxCPIMDepth bounds CPIM inside CPIM.
const maxCPIMDepth = 2

// bodyText returns the text of a MESSAGE body in UTF-8: text/plain in a
// charset of charsets, or the text/plain inside message/cpim (RFC 3862).
func bodyText(contentType string, body []byte) (string, *bodyError) {
	return bodyTextDepth(contentType, body, 0)
}

func bodyTextDepth(contentType string, body []byte, depth int) (string, *bodyError) {
	mt, params := "text/plain", map[string]string{}
	if strings.TrimSpace(contentType) != "" {
		var err error
		mt, params, err = mime.ParseMediaType(contentType)
		if err != nil {
			return "", &bodyError{400, fmt.Sprintf("Content-Type %q cannot be read: %v", contentType, err)}
		}
	}
	switch mt {
	case "text/plain":
		return decodeText(params["charset"], body)
	case "message/cpim":
		if depth >= maxCPIMDepth {
			return "", &bodyError{415, "message/cpim nested too deep"}
		}
		ct, inner, err := cpimContent(body)
		if err != nil {
			return "", &bodyError{400, "message/cpim body cannot be read: " + err.Error()}
		}
		return bodyTextDepth(ct, inner, depth+1)
	}
	return "", &bodyError{415, fmt.Sprintf("%s is not supported; send text/plain or message/cpim", mt)}
}

func decodeText(charset string, body []byte) (string, *bodyError) {
	cs := strings.ToLower(strings.TrimSpace(charset))
	if cs == "" && !utf8.Valid(body) {
		// No charset declared and not UTF-8: a phone that sends raw bytes
		// typed in a Latin-1 or Windows locale (baresip 1.0 sends
		// "text/plain" without a charset). Windows-1252 reads ISO-8859-1's
		// printable range the same and every other byte as something, so
		// the text arrives instead of being refused.
		cs = "windows-1252"
	}
	enc, ok := charsets[cs]
	if !ok {
		return "", &bodyError{415, fmt.Sprintf("charset %s is not supported; use UTF-8, ISO-8859-1, ISO-8859-15, windows-1252 or UTF-16", charset)}
	}
	if enc != nil {
		b, err := enc.NewDecoder().Bytes(body)
		if err != nil {
			return "", &bodyError{400, fmt.Sprintf("the body is not valid %s: %v", charset, err)}
		}
		body = b
	}
	body = bytes.TrimPrefix(body, []byte("\xEF\xBB\xBF")) // a UTF-8 byte order mark
	if !utf8.Valid(body) {
		return "", &bodyError{400, "the body is not valid UTF-8; declare its charset, e.g. text/plain;charset=ISO-8859-1"}
	}
	return string(body), nil
}

// cpimContent splits a message/cpim body (RFC 3862 §2, §3): the message
// headers, an empty line, then the encapsulated MIME object — its headers
// (Content-Type), an empty line, its content. Lines end in CRLF; a bare
// LF is tolerated.
func cpimContent(body []byte) (contentType string, content []byte, err error) {
	r := textproto.NewReader(bufio.NewReader(bytes.NewReader(body)))
	// Message headers (From, To, DateTime, NS, Require, …): pbxgate takes
	// sender and recipient from SIP, not from here.
	if _, err := r.ReadMIMEHeader(); err != nil && !errors.Is(err, io.EOF) {
		return "", nil, fmt.Errorf("message headers: %w", err)
	}
	h, err := r.ReadMIMEHeader()
	if err != nil && !errors.Is(err, io.EOF) {
		return "", nil, fmt.Errorf("content headers: %w", err)
	}
	ct := h.Get("Content-Type")
	if ct == "" {
		return "", nil, errors.New("the encapsulated message has no Content-Type")
	}
	content, err = io.ReadAll(r.R)
	if err != nil {
		return "", nil, err
	}
	return ct, content, nil
}
