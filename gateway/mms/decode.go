package mms

import (
	"fmt"
	"strings"
	"time"
)

// reader walks a PDU; every read reports ErrMalformed at the end of data.
type reader struct {
	b   []byte
	off int
}

func (r *reader) fail(what string) error {
	return fmt.Errorf("%w: %s at offset %d", ErrMalformed, what, r.off)
}

func (r *reader) byte() (byte, error) {
	if r.off >= len(r.b) {
		return 0, r.fail("unexpected end")
	}
	c := r.b[r.off]
	r.off++
	return c, nil
}

func (r *reader) peek() (byte, error) {
	if r.off >= len(r.b) {
		return 0, r.fail("unexpected end")
	}
	return r.b[r.off], nil
}

func (r *reader) take(n int) ([]byte, error) {
	if n < 0 || r.off+n > len(r.b) {
		return nil, r.fail(fmt.Sprintf("%d bytes announced, %d left", n, len(r.b)-r.off))
	}
	p := r.b[r.off : r.off+n]
	r.off += n
	return p, nil
}

func (r *reader) uintvar() (uint64, error) {
	var v uint64
	for i := 0; i < 5; i++ {
		c, err := r.byte()
		if err != nil {
			return 0, err
		}
		v = v<<7 | uint64(c&0x7F)
		if c&0x80 == 0 {
			return v, nil
		}
	}
	return 0, r.fail("uintvar longer than 5 octets")
}

// valueLength reads a Value-length (WAP-230-WSP §8.4.2.2).
func (r *reader) valueLength() (int, error) {
	c, err := r.byte()
	if err != nil {
		return 0, err
	}
	switch {
	case c <= 30:
		return int(c), nil
	case c == 31:
		v, err := r.uintvar()
		if err != nil {
			return 0, err
		}
		if v > uint64(len(r.b)) {
			return 0, r.fail("value length beyond the PDU")
		}
		return int(v), nil
	}
	return 0, r.fail(fmt.Sprintf("0x%02X is no value length", c))
}

func (r *reader) text() (string, error) {
	i := r.off
	for i < len(r.b) && r.b[i] != 0 {
		i++
	}
	if i >= len(r.b) {
		return "", r.fail("text without terminating NUL")
	}
	s := r.b[r.off:i]
	r.off = i + 1
	if len(s) > 0 && (s[0] == 0x7F || s[0] == '"') {
		s = s[1:]
	}
	return string(s), nil
}

func (r *reader) longInt() (uint64, error) {
	n, err := r.byte()
	if err != nil {
		return 0, err
	}
	if n == 0 || n > 8 {
		return 0, r.fail(fmt.Sprintf("long integer of %d octets", n))
	}
	p, err := r.take(int(n))
	if err != nil {
		return 0, err
	}
	var v uint64
	for _, c := range p {
		v = v<<8 | uint64(c)
	}
	return v, nil
}

// integer reads an Integer-value: Short-integer or Long-integer.
func (r *reader) integer() (uint64, error) {
	c, err := r.peek()
	if err != nil {
		return 0, err
	}
	if c&0x80 != 0 {
		r.off++
		return uint64(c & 0x7F), nil
	}
	return r.longInt()
}

// encodedString reads an Encoded-string-value (OMA-MMS-ENC §7.2.9);
// charsets other than UTF-8/US-ASCII are returned as their bytes.
func (r *reader) encodedString() (string, error) {
	c, err := r.peek()
	if err != nil {
		return "", err
	}
	if c > 31 {
		return r.text()
	}
	if c == 0 { // an empty Text-string
		r.off++
		return "", nil
	}
	n, err := r.valueLength()
	if err != nil {
		return "", err
	}
	end := r.off + n
	if end > len(r.b) {
		return "", r.fail("encoded string beyond the PDU")
	}
	if _, err := r.integer(); err != nil { // charset
		return "", err
	}
	s, err := r.text()
	if err != nil {
		return "", err
	}
	r.off = end
	return s, nil
}

// skipValue skips an unknown header's value (WAP-230-WSP §8.4.1.2).
func (r *reader) skipValue() error {
	c, err := r.peek()
	if err != nil {
		return err
	}
	switch {
	case c <= 30:
		r.off++
		_, err = r.take(int(c))
	case c == 31:
		var n int
		n, err = r.valueLength()
		if err == nil {
			_, err = r.take(n)
		}
	case c >= 0x80:
		r.off++
	default:
		_, err = r.text()
	}
	return err
}

// contentType reads a Content-type-value and returns the media type and
// its text parameters by code (WAP-230-WSP §8.4.2.24).
func (r *reader) contentType() (string, map[byte]string, error) {
	c, err := r.peek()
	if err != nil {
		return "", nil, err
	}
	if c >= 0x80 {
		r.off++
		return mediaName(c & 0x7F), nil, nil
	}
	if c > 31 {
		s, err := r.text()
		return s, nil, err
	}
	n, err := r.valueLength()
	if err != nil {
		return "", nil, err
	}
	end := r.off + n
	if end > len(r.b) {
		return "", nil, r.fail("content type beyond the PDU")
	}
	var media string
	c, err = r.peek()
	if err != nil {
		return "", nil, err
	}
	switch {
	case c >= 0x80:
		r.off++
		media = mediaName(c & 0x7F)
	case c <= 30: // Integer-value as long integer
		v, err := r.longInt()
		if err != nil {
			return "", nil, err
		}
		media = mediaName(byte(v))
	default:
		if media, err = r.text(); err != nil {
			return "", nil, err
		}
	}
	params := map[byte]string{}
	for r.off < end {
		c, err := r.byte()
		if err != nil {
			return "", nil, err
		}
		if c < 0x80 { // untyped parameter: token-text value
			r.off--
			if _, err := r.text(); err != nil {
				return "", nil, err
			}
			if err := r.skipValue(); err != nil {
				return "", nil, err
			}
			continue
		}
		code := c & 0x7F
		switch code {
		case pCharset:
			v, err := r.integer()
			if err != nil {
				return "", nil, err
			}
			params[code] = fmt.Sprint(v)
		case pName, pType, pStart, 0x17, 0x18, 0x19, 0x1A:
			s, err := r.text()
			if err != nil {
				return "", nil, err
			}
			if code == 0x17 {
				code = pName
			}
			params[code] = s
		default:
			if err := r.skipValue(); err != nil {
				return "", nil, err
			}
		}
	}
	r.off = end
	return media, params, nil
}

func mediaName(code byte) string {
	if s, ok := wellKnownNames[code]; ok {
		return s
	}
	return fmt.Sprintf("application/x-wsp-0x%02X", code)
}

// Decode parses an MMS PDU.
func Decode(b []byte) (Message, error) {
	r := &reader{b: b}
	var m Message
	first := true
	for r.off < len(r.b) {
		c, err := r.byte()
		if err != nil {
			return m, err
		}
		if c < 0x80 {
			// Application-header: token text, then text value.
			r.off--
			if _, err := r.text(); err != nil {
				return m, err
			}
			if _, err := r.text(); err != nil {
				return m, err
			}
			continue
		}
		h := c & 0x7F
		if first && h != hMessageType {
			return m, r.fail("X-Mms-Message-Type must come first")
		}
		first = false
		switch h {
		case hMessageType:
			v, err := r.byte()
			if err != nil {
				return m, err
			}
			m.Type = int(v)
		case hTransactionID:
			m.TransactionID, err = r.text()
		case hMMSVersion:
			var v byte
			v, err = r.byte()
			m.Version = int(v & 0x7F)
		case hDate:
			var v uint64
			v, err = r.longInt()
			m.Date = time.Unix(int64(v), 0).UTC()
		case hFrom:
			var n int
			if n, err = r.valueLength(); err != nil {
				return m, err
			}
			end := r.off + n
			tok, err := r.byte()
			if err != nil {
				return m, err
			}
			if tok == 0x80 {
				s, err := r.encodedString()
				if err != nil {
					return m, err
				}
				m.From = Number(s)
			}
			r.off = end
		case hTo, hCc, hBcc:
			var s string
			s, err = r.encodedString()
			if h == hTo {
				m.To = append(m.To, Number(s))
			}
		case hSubject:
			m.Subject, err = r.encodedString()
		case hMessageClass:
			c, err2 := r.peek()
			if err2 != nil {
				return m, err2
			}
			if c >= 0x80 {
				r.off++
				m.MessageClass = map[byte]string{0x80: "personal", 0x81: "advertisement", 0x82: "informational", 0x83: "auto"}[c]
			} else {
				m.MessageClass, err = r.text()
			}
		case hMessageSize:
			var v uint64
			v, err = r.longInt()
			m.MessageSize = int(v)
		case hExpiry:
			var n int
			if n, err = r.valueLength(); err != nil {
				return m, err
			}
			end := r.off + n
			tok, err := r.byte()
			if err != nil {
				return m, err
			}
			v, err := r.longInt()
			if err != nil {
				return m, err
			}
			if tok == 0x81 {
				m.Expiry = time.Duration(v) * time.Second
			} else {
				m.Expiry = time.Until(time.Unix(int64(v), 0))
			}
			r.off = end
		case hContentLocation:
			m.ContentLocation, err = r.text()
		case hMessageID:
			m.MessageID, err = r.text()
		case hResponseStatus:
			var v byte
			v, err = r.byte()
			m.ResponseStatus = int(v)
		case hResponseText:
			m.ResponseText, err = r.encodedString()
		case hStatus:
			var v byte
			v, err = r.byte()
			m.Status = int(v)
		case hContentType:
			var params map[byte]string
			m.ContentType, params, err = r.contentType()
			if err != nil {
				return m, err
			}
			m.Start = strings.Trim(params[pStart], "<>")
			m.Parts, err = r.multipart()
			return m, err
		default:
			err = r.skipValue()
		}
		if err != nil {
			return m, err
		}
	}
	if m.Type == 0 {
		return m, r.fail("no message type")
	}
	return m, nil
}

// multipart reads a WSP multipart body (WAP-230-WSP §8.5).
func (r *reader) multipart() ([]Part, error) {
	if r.off >= len(r.b) {
		return nil, nil
	}
	n, err := r.uintvar()
	if err != nil {
		return nil, err
	}
	if n > 1000 {
		return nil, r.fail(fmt.Sprintf("%d parts", n))
	}
	parts := make([]Part, 0, n)
	for i := uint64(0); i < n; i++ {
		hl, err := r.uintvar()
		if err != nil {
			return nil, err
		}
		dl, err := r.uintvar()
		if err != nil {
			return nil, err
		}
		if hl > uint64(len(r.b)) || dl > uint64(len(r.b)) {
			return nil, r.fail("part larger than the PDU")
		}
		hdr, err := r.take(int(hl))
		if err != nil {
			return nil, err
		}
		data, err := r.take(int(dl))
		if err != nil {
			return nil, err
		}
		hr := &reader{b: hdr}
		var p Part
		var params map[byte]string
		if p.ContentType, params, err = hr.contentType(); err != nil {
			return nil, fmt.Errorf("part %d: %w", i+1, err)
		}
		p.Name = params[pName]
		for hr.off < len(hr.b) {
			c, err := hr.byte()
			if err != nil {
				return nil, err
			}
			switch {
			case c == 0x80|wspContentLocation:
				p.Name, err = hr.text()
			case c == 0x80|wspContentID:
				var s string
				s, err = hr.text()
				p.ContentID = strings.Trim(s, "<>")
			case c < 0x80:
				hr.off--
				var name string
				if name, err = hr.text(); err == nil {
					var v string
					v, err = hr.text()
					switch strings.ToLower(name) {
					case "content-id":
						p.ContentID = strings.Trim(v, "<>")
					case "content-location":
						p.Name = v
					}
				}
			default:
				err = hr.skipValue()
			}
			if err != nil {
				return nil, fmt.Errorf("part %d headers: %w", i+1, err)
			}
		}
		p.Data = append([]byte(nil), data...)
		parts = append(parts, p)
	}
	return parts, nil
}
