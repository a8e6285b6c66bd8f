package sms

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf16"

	"github.com/warthog618/sms/encoding/tpdu"
)

// Encoding of 8-bit (binary) user data, which has no text alphabet.
const Binary = "8-bit"

var (
	// ErrNotDeliver: the TPDU is not an SMS-DELIVER.
	ErrNotDeliver = errors.New("sms: not an SMS-DELIVER")
	// ErrNotStatusReport: the TPDU is not an SMS-STATUS-REPORT.
	ErrNotStatusReport = errors.New("sms: not an SMS-STATUS-REPORT")
	// ErrBadPDU: the PDU cannot be decoded.
	ErrBadPDU = errors.New("sms: malformed PDU")
	// ErrIncomplete: the parts given to Join do not form one complete message.
	ErrIncomplete = errors.New("sms: incomplete concatenated message")
)

// TP-MTI values in the MT direction (3GPP TS 23.040 §9.2.3.1).
const (
	mtiDeliver      = 0x00
	mtiStatusReport = 0x02
)

// IsStatusReport reports whether a received TPDU is an SMS-STATUS-REPORT
// (rather than an SMS-DELIVER).
func IsStatusReport(t []byte) bool {
	return len(t) > 0 && t[0]&0x03 == mtiStatusReport
}

// SplitSMSC separates the SMSC address that AT+CMGR, AT+CMGL, +CMT and +CDS
// put in front of a TPDU in PDU mode. smsc is empty when the modem gave none.
func SplitSMSC(pdu []byte) (smsc string, t []byte, err error) {
	if len(pdu) == 0 {
		return "", nil, fmt.Errorf("%w: empty", ErrBadPDU)
	}
	n := int(pdu[0])
	if len(pdu) < 1+n+1 {
		return "", nil, fmt.Errorf("%w: SMSC address of %d octets but the PDU has only %d", ErrBadPDU, n, len(pdu))
	}
	if n > 0 {
		var a tpdu.Address
		// The SMSC length counts octets (TOA included), TP addresses count
		// digits; convert so the tpdu decoder can read it.
		b := make([]byte, 0, n+1)
		b = append(b, byte((n-1)*2))
		b = append(b, pdu[1:1+n]...)
		if _, err := a.UnmarshalBinary(b); err == nil {
			smsc = strings.TrimRight(a.Number(), "F")
		}
	}
	return smsc, pdu[1+n:], nil
}

// Deliver is one received SMS-DELIVER (one part of a long message).
type Deliver struct {
	From     string    `json:"from"` // +E.164, national number or alphanumeric sender
	SCTS     time.Time `json:"scts"` // service centre time stamp
	Encoding string    `json:"encoding"`
	Text     string    `json:"text"` // this part's text; use Join for the whole message
	// Concatenation: Total is 1 for a single SMS. Ref is the sender's
	// reference (8 or 16 bit) shared by all parts; Seq is 1-based.
	Ref   int `json:"ref"`
	Seq   int `json:"seq"`
	Total int `json:"total"`

	// ud is the raw user data (septets or UCS-2 octets) so Join can decode
	// across part boundaries: a foreign sender may split an escape
	// sequence or a surrogate pair.
	ud []byte
}

// ConcatKey identifies the message a part belongs to, for reassembly. It
// is the same for all parts of one message from one sender.
func (d Deliver) ConcatKey() string {
	return fmt.Sprintf("%s/%d/%d", d.From, d.Ref, d.Total)
}

// DecodeDeliver decodes an SMS-DELIVER TPDU (without SMSC address).
func DecodeDeliver(t []byte) (Deliver, error) {
	if len(t) == 0 || t[0]&0x03 != mtiDeliver {
		return Deliver{}, ErrNotDeliver
	}
	var p tpdu.TPDU // Direction zero value is MT
	if err := p.UnmarshalBinary(t); err != nil {
		return Deliver{}, fmt.Errorf("%w: %w", ErrBadPDU, err)
	}
	d := Deliver{From: p.OA.Number(), SCTS: p.SCTS.Time, Seq: 1, Total: 1, ud: p.UD}
	if total, seq, ref, ok := p.ConcatInfo(); ok && total > 1 {
		d.Total, d.Seq, d.Ref = total, seq, ref
		if seq < 1 || seq > total {
			return Deliver{}, fmt.Errorf("%w: part %d of %d", ErrBadPDU, seq, total)
		}
	}
	alpha, err := p.Alphabet()
	if err != nil {
		return Deliver{}, fmt.Errorf("%w: %w", ErrBadPDU, err)
	}
	switch alpha {
	case tpdu.Alpha7Bit:
		d.Encoding = GSM7
	case tpdu.AlphaUCS2:
		d.Encoding = UCS2
	default:
		d.Encoding = Binary
	}
	d.Text = decodeUD(d.Encoding, d.ud)
	return d, nil
}

func decodeUD(enc string, ud []byte) string {
	switch enc {
	case GSM7:
		return decodeSeptets(ud)
	case UCS2:
		u := make([]uint16, len(ud)/2)
		for i := range u {
			u[i] = uint16(ud[2*i])<<8 | uint16(ud[2*i+1])
		}
		return string(utf16.Decode(u))
	}
	// 8-bit data has no defined text; show it as Latin-1 so nothing is lost.
	r := make([]rune, len(ud))
	for i, c := range ud {
		r[i] = rune(c)
	}
	return string(r)
}

// Join reassembles the text of a concatenated message from all its parts, in
// any order. Parts must share From, Ref and Total and cover every Seq once.
func Join(parts []Deliver) (string, error) {
	if len(parts) == 0 {
		return "", ErrIncomplete
	}
	ps := slices.Clone(parts)
	slices.SortFunc(ps, func(a, b Deliver) int { return a.Seq - b.Seq })
	first := ps[0]
	if len(ps) != first.Total {
		return "", fmt.Errorf("%w: have %d of %d parts from %s", ErrIncomplete, len(ps), first.Total, first.From)
	}
	var ud []byte
	for i, p := range ps {
		if p.Seq != i+1 || p.ConcatKey() != first.ConcatKey() || p.Encoding != first.Encoding {
			return "", fmt.Errorf("%w: part %d does not belong to message %s", ErrIncomplete, p.Seq, first.ConcatKey())
		}
		ud = append(ud, p.ud...)
	}
	return decodeUD(first.Encoding, ud), nil
}

// Delivery outcomes of a status report.
const (
	Delivered = "delivered" // the recipient's phone has the message
	Pending   = "pending"   // the SMSC is still trying
	Failed    = "failed"    // the SMSC gave up
)

// StatusReport is a decoded SMS-STATUS-REPORT: the fate of one sent part,
// matched to it by MR (the reference +CMGS returned) and Recipient.
type StatusReport struct {
	MR        int       `json:"mr"`
	Recipient string    `json:"recipient"`
	Status    int       `json:"status"`  // TP-ST
	Outcome   string    `json:"outcome"` // Delivered, Pending or Failed
	Reason    string    `json:"reason"`
	SCTS      time.Time `json:"scts"`      // when the SMSC took the message
	Discharge time.Time `json:"discharge"` // when it was delivered or given up
}

// DecodeStatusReport decodes an SMS-STATUS-REPORT TPDU (without SMSC address).
func DecodeStatusReport(t []byte) (StatusReport, error) {
	if !IsStatusReport(t) {
		return StatusReport{}, ErrNotStatusReport
	}
	var p tpdu.TPDU
	if err := p.UnmarshalBinary(t); err != nil {
		return StatusReport{}, fmt.Errorf("%w: %w", ErrBadPDU, err)
	}
	outcome, reason := StatusOutcome(p.ST)
	return StatusReport{
		MR: int(p.MR), Recipient: p.RA.Number(), Status: int(p.ST),
		Outcome: outcome, Reason: reason, SCTS: p.SCTS.Time, Discharge: p.DT.Time,
	}, nil
}

// StatusOutcome classifies TP-ST (3GPP TS 23.040 §9.2.3.15).
func StatusOutcome(st byte) (outcome, reason string) {
	switch st {
	case 0x00:
		return Delivered, "received by the recipient"
	case 0x01:
		return Delivered, "forwarded, delivery not confirmed"
	case 0x02:
		return Delivered, "replaced by the service centre"
	case 0x20, 0x60:
		return pendingOr(st), "network congestion"
	case 0x21, 0x61:
		return pendingOr(st), "recipient busy"
	case 0x22, 0x62:
		return pendingOr(st), "no response from the recipient (phone off or out of coverage)"
	case 0x23, 0x63:
		return pendingOr(st), "service rejected"
	case 0x24, 0x44, 0x64:
		return pendingOr(st), "quality of service not available"
	case 0x25, 0x65:
		return pendingOr(st), "error in the recipient's phone"
	case 0x40:
		return Failed, "remote procedure error"
	case 0x41:
		return Failed, "incompatible destination"
	case 0x42:
		return Failed, "connection rejected by the recipient"
	case 0x43:
		return Failed, "number not obtainable"
	case 0x45:
		return Failed, "no interworking available"
	case 0x46:
		return Failed, "validity period expired before delivery"
	case 0x47:
		return Failed, "deleted by the sender"
	case 0x48:
		return Failed, "deleted by the service centre"
	case 0x49:
		return Failed, "message does not exist at the service centre"
	}
	switch {
	case st < 0x20:
		return Delivered, fmt.Sprintf("completed (status 0x%02X)", st)
	case st < 0x40:
		return Pending, fmt.Sprintf("service centre still trying (status 0x%02X)", st)
	case st < 0x60:
		return Failed, fmt.Sprintf("permanent error (status 0x%02X)", st)
	}
	return Failed, fmt.Sprintf("service centre stopped trying (status 0x%02X)", st)
}

// pendingOr: 0x2X temporary errors mean the SMSC keeps trying; the same
// errors in 0x6X mean it has stopped.
func pendingOr(st byte) string {
	if st < 0x40 {
		return Pending
	}
	return Failed
}
