// Package mms encodes and decodes MMS PDUs as OMA-MMS-ENC (v1.2/1.3)
// defines them on top of the WAP Wireless Session Protocol encoding
// (WAP-230-WSP §8.4 headers, §8.5 multipart): m-send-req, m-send-conf,
// m-notification-ind, m-notifyresp-ind and m-retrieve-conf, the WAP push
// that carries an m-notification-ind in an SMS, and fits media to a
// carrier's size limit (fit.go).
package mms

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Message types (OMA-MMS-ENC §7.3.30, X-Mms-Message-Type).
const (
	TypeSendReq         = 0x80
	TypeSendConf        = 0x81
	TypeNotificationInd = 0x82
	TypeNotifyRespInd   = 0x83
	TypeRetrieveConf    = 0x84
)

// Header field codes (OMA-MMS-ENC §7.4, Table 12), without the high bit.
const (
	hBcc             = 0x01
	hCc              = 0x02
	hContentLocation = 0x03
	hContentType     = 0x04
	hDate            = 0x05
	hDeliveryReport  = 0x06
	hExpiry          = 0x08
	hFrom            = 0x09
	hMessageClass    = 0x0A
	hMessageID       = 0x0B
	hMessageType     = 0x0C
	hMMSVersion      = 0x0D
	hMessageSize     = 0x0E
	hPriority        = 0x0F
	hReadReport      = 0x10
	hResponseStatus  = 0x12
	hResponseText    = 0x13
	hStatus          = 0x15
	hSubject         = 0x16
	hTo              = 0x17
	hTransactionID   = 0x18
)

// Response-Status values (OMA-MMS-ENC §7.3.48).
const (
	StatusOK                       = 0x80
	StatusErrorUnspecified         = 0x81
	StatusTransientFailure         = 0xC0
	StatusTransientNetworkProblem  = 0xC3
	StatusPermanentFailure         = 0xE0
	StatusPermanentServiceDenied   = 0xE1
	StatusPermanentFormatCorrupt   = 0xE2
	StatusPermanentContentRejected = 0xE5
)

// StatusText names a Response-Status value.
func StatusText(s int) string {
	switch s {
	case StatusOK:
		return "Ok"
	case StatusErrorUnspecified:
		return "Error-unspecified"
	case StatusTransientFailure:
		return "Error-transient-failure"
	case StatusTransientNetworkProblem:
		return "Error-transient-network-problem"
	case StatusPermanentFailure:
		return "Error-permanent-failure"
	case StatusPermanentServiceDenied:
		return "Error-permanent-service-denied"
	case StatusPermanentFormatCorrupt:
		return "Error-permanent-message-format-corrupt"
	case StatusPermanentContentRejected:
		return "Error-permanent-content-not-accepted"
	}
	return fmt.Sprintf("status 0x%02X", s)
}

// Part is one body part of a multipart message.
type Part struct {
	ContentType string // e.g. "image/jpeg"
	Name        string // Content-Location (file name)
	ContentID   string // without angle brackets
	Data        []byte
}

// Message is one MMS PDU. Which fields matter depends on Type.
type Message struct {
	Type            int
	TransactionID   string
	Version         int // 0x12 for 1.2 (major<<4 | minor)
	Date            time.Time
	From            string // "+4917…" (the /TYPE=PLMN suffix is added and removed)
	To              []string
	Subject         string
	ContentType     string // of the body, e.g. application/vnd.wap.multipart.related
	Start           string // multipart/related start parameter
	MessageID       string
	MessageClass    string // "personal"…
	MessageSize     int
	Expiry          time.Duration // relative
	ContentLocation string
	ResponseStatus  int
	ResponseText    string
	Status          int // m-notifyresp-ind X-Mms-Status (0x81 retrieved)
	Parts           []Part
}

// ErrMalformed wraps every decoding error.
var ErrMalformed = errors.New("malformed MMS PDU")

// Well-known content types (WAP-230-WSP Appendix A, Table 40) used here.
var wellKnownTypes = map[string]byte{
	"*/*":                                   0x00,
	"text/plain":                            0x03,
	"image/gif":                             0x1D,
	"image/jpeg":                            0x1E,
	"image/png":                             0x20,
	"application/vnd.wap.multipart.mixed":   0x23,
	"application/vnd.wap.multipart.related": 0x33,
	"application/vnd.wap.mms-message":       0x3E,
}

var wellKnownNames = func() map[byte]string {
	m := map[byte]string{}
	for k, v := range wellKnownTypes {
		m[v] = k
	}
	return m
}()

// Content type parameters (WAP-230-WSP Table 38), without the high bit.
const (
	pCharset = 0x01
	pName    = 0x05
	pType    = 0x09
	pStart   = 0x0A
)

// WSP header field names used in part headers (WAP-230-WSP Table 39).
const (
	wspContentLocation = 0x0E
	wspContentID       = 0x40
)

const charsetUTF8 = 106 // IANA MIBenum

// Encode renders m as a binary PDU.
func Encode(m Message) ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte(0x80 | hMessageType)
	b.WriteByte(byte(m.Type))
	switch m.Type {
	case TypeSendReq, TypeSendConf, TypeNotificationInd, TypeNotifyRespInd, TypeRetrieveConf:
	default:
		return nil, fmt.Errorf("mms: cannot encode message type 0x%02X", m.Type)
	}
	if m.TransactionID != "" || m.Type != TypeRetrieveConf {
		b.WriteByte(0x80 | hTransactionID)
		writeText(&b, m.TransactionID)
	}
	v := m.Version
	if v == 0 {
		v = 0x12
	}
	b.WriteByte(0x80 | hMMSVersion)
	b.WriteByte(0x80 | byte(v))
	switch m.Type {
	case TypeSendConf:
		b.WriteByte(0x80 | hResponseStatus)
		b.WriteByte(byte(m.ResponseStatus))
		if m.ResponseText != "" {
			b.WriteByte(0x80 | hResponseText)
			writeEncodedString(&b, m.ResponseText)
		}
		if m.MessageID != "" {
			b.WriteByte(0x80 | hMessageID)
			writeText(&b, m.MessageID)
		}
		return b.Bytes(), nil
	case TypeNotifyRespInd:
		st := m.Status
		if st == 0 {
			st = 0x81
		}
		b.WriteByte(0x80 | hStatus)
		b.WriteByte(byte(st))
		return b.Bytes(), nil
	case TypeNotificationInd:
		if m.From != "" {
			writeFrom(&b, m.From)
		}
		if m.Subject != "" {
			b.WriteByte(0x80 | hSubject)
			writeEncodedString(&b, m.Subject)
		}
		b.WriteByte(0x80 | hMessageClass)
		b.WriteByte(0x80) // Personal
		b.WriteByte(0x80 | hMessageSize)
		writeLongInt(&b, uint64(m.MessageSize))
		b.WriteByte(0x80 | hExpiry)
		var e bytes.Buffer
		e.WriteByte(0x81) // Relative-token
		exp := m.Expiry
		if exp <= 0 {
			exp = 7 * 24 * time.Hour
		}
		writeLongInt(&e, uint64(exp/time.Second))
		writeValueLength(&b, e.Len())
		b.Write(e.Bytes())
		b.WriteByte(0x80 | hContentLocation)
		writeText(&b, m.ContentLocation)
		return b.Bytes(), nil
	}
	// m-send-req and m-retrieve-conf carry a message.
	if m.Type == TypeRetrieveConf && m.MessageID != "" {
		b.WriteByte(0x80 | hMessageID)
		writeText(&b, m.MessageID)
	}
	if !m.Date.IsZero() {
		b.WriteByte(0x80 | hDate)
		writeLongInt(&b, uint64(m.Date.Unix()))
	}
	writeFrom(&b, m.From)
	for _, to := range m.To {
		b.WriteByte(0x80 | hTo)
		writeEncodedString(&b, address(to))
	}
	if m.Subject != "" {
		b.WriteByte(0x80 | hSubject)
		writeEncodedString(&b, m.Subject)
	}
	if m.Type == TypeSendReq {
		b.WriteByte(0x80 | hMessageClass)
		b.WriteByte(0x80)
		b.WriteByte(0x80 | hDeliveryReport)
		b.WriteByte(0x81) // No
	}
	// Content-Type is the last header (OMA-MMS-ENC §6.1: headers, then body).
	ct := m.ContentType
	if ct == "" {
		ct = "application/vnd.wap.multipart.mixed"
	}
	b.WriteByte(0x80 | hContentType)
	var params []param
	if m.Start != "" && strings.HasSuffix(ct, "related") {
		params = append(params, param{pStart, "<" + m.Start + ">"}, param{pType, "application/smil"})
	}
	writeContentType(&b, ct, params)
	writeUintvar(&b, uint64(len(m.Parts)))
	for _, p := range m.Parts {
		var h bytes.Buffer
		var pp []param
		if p.Name != "" {
			pp = append(pp, param{pName, p.Name})
		}
		if strings.HasPrefix(p.ContentType, "text/") {
			pp = append(pp, param{pCharset, ""})
		}
		writeContentType(&h, p.ContentType, pp)
		if p.Name != "" {
			h.WriteByte(0x80 | wspContentLocation)
			writeText(&h, p.Name)
		}
		if p.ContentID != "" {
			h.WriteByte(0x80 | wspContentID)
			writeQuoted(&h, "<"+p.ContentID+">")
		}
		writeUintvar(&b, uint64(h.Len()))
		writeUintvar(&b, uint64(len(p.Data)))
		b.Write(h.Bytes())
		b.Write(p.Data)
	}
	return b.Bytes(), nil
}

type param struct {
	code  byte
	value string // "" with pCharset: UTF-8
}

// address adds the PLMN type suffix to a phone number (OMA-MMS-ENC §8).
func address(s string) string {
	if strings.Contains(s, "/TYPE=") || strings.Contains(s, "@") {
		return s
	}
	return s + "/TYPE=PLMN"
}

// Number strips the /TYPE=… suffix from an address.
func Number(s string) string {
	if i := strings.Index(s, "/TYPE="); i >= 0 {
		return s[:i]
	}
	return s
}

func writeFrom(b *bytes.Buffer, from string) {
	b.WriteByte(0x80 | hFrom)
	if from == "" {
		b.WriteByte(1)
		b.WriteByte(0x81) // Insert-address-token: the MMSC fills it in
		return
	}
	var v bytes.Buffer
	v.WriteByte(0x80) // Address-present-token
	writeEncodedString(&v, address(from))
	writeValueLength(b, v.Len())
	b.Write(v.Bytes())
}

func writeText(b *bytes.Buffer, s string) {
	if len(s) > 0 && s[0] >= 0x80 {
		b.WriteByte(0x7F)
	}
	b.WriteString(s)
	b.WriteByte(0)
}

func writeQuoted(b *bytes.Buffer, s string) {
	b.WriteByte('"')
	b.WriteString(s)
	b.WriteByte(0)
}

// writeEncodedString writes ASCII as Text-string and anything else as
// Value-length Char-set Text-string in UTF-8 (OMA-MMS-ENC §7.2.9).
func writeEncodedString(b *bytes.Buffer, s string) {
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			ascii = false
			break
		}
	}
	if ascii {
		writeText(b, s)
		return
	}
	var v bytes.Buffer
	v.WriteByte(0x80 | charsetUTF8)
	writeText(&v, s)
	writeValueLength(b, v.Len())
	b.Write(v.Bytes())
}

func writeContentType(b *bytes.Buffer, ct string, params []param) {
	var v bytes.Buffer
	if code, ok := wellKnownTypes[ct]; ok {
		v.WriteByte(0x80 | code)
	} else {
		writeText(&v, ct)
	}
	for _, p := range params {
		v.WriteByte(0x80 | p.code)
		if p.code == pCharset {
			v.WriteByte(0x80 | charsetUTF8)
			continue
		}
		writeText(&v, p.value)
	}
	if len(params) == 0 {
		if code, ok := wellKnownTypes[ct]; ok {
			b.WriteByte(0x80 | code) // Constrained-media
			return
		}
	}
	writeValueLength(b, v.Len())
	b.Write(v.Bytes())
}

func writeValueLength(b *bytes.Buffer, n int) {
	if n <= 30 {
		b.WriteByte(byte(n))
		return
	}
	b.WriteByte(31)
	writeUintvar(b, uint64(n))
}

func writeUintvar(b *bytes.Buffer, v uint64) {
	var tmp [10]byte
	i := len(tmp) - 1
	tmp[i] = byte(v & 0x7F)
	v >>= 7
	for v > 0 {
		i--
		tmp[i] = 0x80 | byte(v&0x7F)
		v >>= 7
	}
	b.Write(tmp[i:])
}

func writeLongInt(b *bytes.Buffer, v uint64) {
	n := 1
	for x := v >> 8; x > 0; x >>= 8 {
		n++
	}
	b.WriteByte(byte(n))
	for i := n - 1; i >= 0; i-- {
		b.WriteByte(byte(v >> (8 * i)))
	}
}
