package mms

import (
	"bytes"
	"fmt"
)

// WAP push ports (WAP-259-WDP Appendix B): an MMS notification travels
// to port 2948 (WAP push connectionless) from port 9200.
const (
	PushPort       = 2948
	PushSourcePort = 9200
)

// EncodePush wraps an encoded m-notification-ind into a connectionless
// WSP Push PDU (WAP-230-WSP §8.2.4.1) as MMSCs send it in an SMS: TID,
// PDU type 0x06, headers length, content type
// application/vnd.wap.mms-message, X-Wap-Application-Id mms.ua, body.
func EncodePush(tid byte, notification []byte) []byte {
	var b bytes.Buffer
	b.WriteByte(tid)
	b.WriteByte(0x06)
	hdr := []byte{0x80 | 0x3E, 0xAF, 0x84} // content type; X-Wap-Application-Id: x-wap-application:mms.ua
	writeUintvar(&b, uint64(len(hdr)))
	b.Write(hdr)
	b.Write(notification)
	return b.Bytes()
}

// DecodePush parses a WSP Push PDU carrying an MMS notification and
// returns the m-notification-ind. Pushes for other content or
// applications are refused.
func DecodePush(b []byte) (Message, error) {
	r := &reader{b: b}
	if _, err := r.byte(); err != nil { // TID
		return Message{}, err
	}
	t, err := r.byte()
	if err != nil {
		return Message{}, err
	}
	if t != 0x06 {
		return Message{}, fmt.Errorf("%w: WSP PDU type 0x%02X is not Push", ErrMalformed, t)
	}
	hl, err := r.uintvar()
	if err != nil {
		return Message{}, err
	}
	hdr, err := r.take(int(min(hl, uint64(len(b)+1))))
	if err != nil {
		return Message{}, err
	}
	hr := &reader{b: hdr}
	ct, _, err := hr.contentType()
	if err != nil {
		return Message{}, err
	}
	if ct != "application/vnd.wap.mms-message" {
		return Message{}, fmt.Errorf("%w: push of %q, not an MMS notification", ErrMalformed, ct)
	}
	app := false
	for hr.off < len(hr.b) {
		c, err := hr.byte()
		if err != nil {
			return Message{}, err
		}
		if c == 0xAF { // X-Wap-Application-Id
			v, err := hr.integer()
			if err != nil {
				return Message{}, err
			}
			if v != 4 {
				return Message{}, fmt.Errorf("%w: push for WAP application %d, not mms.ua (4)", ErrMalformed, v)
			}
			app = true
			continue
		}
		if c < 0x80 {
			hr.off--
			if _, err := hr.text(); err != nil {
				return Message{}, err
			}
		}
		if err := hr.skipValue(); err != nil {
			return Message{}, err
		}
	}
	if !app {
		return Message{}, fmt.Errorf("%w: push without X-Wap-Application-Id", ErrMalformed)
	}
	m, err := Decode(b[r.off:])
	if err != nil {
		return m, err
	}
	if m.Type != TypeNotificationInd {
		return m, fmt.Errorf("%w: message type 0x%02X in a push, expected m-notification-ind", ErrMalformed, m.Type)
	}
	if m.ContentLocation == "" {
		return m, fmt.Errorf("%w: notification without X-Mms-Content-Location", ErrMalformed)
	}
	return m, nil
}

// PushPortOf returns the destination port of an SMS user data header's
// application port addressing element (3GPP TS 23.040 §9.2.3.24.4, IEI
// 0x05, 16-bit ports), or -1.
func PushPortOf(udh []UDHElement) int {
	for _, ie := range udh {
		if ie.ID == 0x05 && len(ie.Data) == 4 {
			return int(ie.Data[0])<<8 | int(ie.Data[1])
		}
	}
	return -1
}

// UDHElement is one information element of an SMS user data header.
type UDHElement struct {
	ID   byte
	Data []byte
}
