package modem

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"

	"github.com/pbxgate/pbxgate/gateway/sms"
)

// Send sends text to the number to (E.164 with +, or national digits) in PDU
// mode, split into concatenated parts with a fresh reference as
// sms.PlanText describes. statusReport requests a delivery report for every
// part (match them by PartResult.MR and recipient).
//
// Errors are *SendError. When a later part fails, the result still lists
// the parts already sent.
func (m *Modem) Send(ctx context.Context, to, text string, statusReport bool) (SendResult, error) {
	parts, err := m.enc.Submit(to, text, statusReport)
	if err != nil {
		return SendResult{}, &SendError{Reason: err.Error(), ReasonCode: rEncode.R(err), Err: err}
	}
	plan, _ := sms.PlanText(text)
	res := SendResult{Encoding: plan.Encoding, Ref: parts[0].Ref}
	for _, p := range parts {
		if err := ctx.Err(); err != nil {
			return res, &SendError{Reason: "cancelled before part " + fmt.Sprint(p.Seq), ReasonCode: rCancelled.R(p.Seq), Retryable: true, Err: err}
		}
		mr, err := m.sendPart(p)
		if err != nil {
			se := sendErr(err)
			if len(parts) > 1 {
				se.Reason = fmt.Sprintf("part %d of %d: %s", p.Seq, p.Total, se.Reason)
				se.ReasonCode = rPart.Wrap(se.ReasonCode, p.Seq, p.Total)
			}
			return res, se
		}
		res.Parts = append(res.Parts, PartResult{Seq: p.Seq, MR: mr, At: time.Now()})
	}
	if m.log.Enabled(ctx, slog.LevelDebug) {
		m.log.Debug("sms sent", "parts", len(parts), "encoding", res.Encoding)
	}
	return res, nil
}

// appendPDU appends what follows the AT+CMGS prompt in PDU mode, as
// sms.Part.PDU makes it: an empty SMSC address ("00": the SIM's service
// centre) and the TPDU, in upper-case hex (3GPP TS 27.005 §3.1 <pdu>,
// §3.5.1). Into a buffer the port keeps: one string per part instead of
// a buffer and a string.
func appendPDU(b, tpdu []byte) []byte {
	const digits = "0123456789ABCDEF"
	b = append(b, '0', '0')
	for _, c := range tpdu {
		b = append(b, digits[c>>4], digits[c&0x0f])
	}
	return b
}

func (m *Modem) sendPart(p sms.Part) (int, error) {
	m.opMu.Lock()
	defer m.opMu.Unlock()
	c, err := m.ready()
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrNotSent, err)
	}
	if c.cmgsLen != p.Len() || c.cmgs == "" {
		c.cmgsLen, c.cmgs = p.Len(), "+CMGS="+strconv.Itoa(p.Len())
	}
	c.pduHex = appendPDU(c.pduHex[:0], p.TPDU)
	info, stage, err := c.smsCmd(c.cmgs, string(c.pduHex), m.cfg.CommandTimeout, m.cfg.SendTimeout)
	if err != nil {
		if errors.Is(err, ErrTimeout) {
			// Not Ready from now on, so nothing more is handed to this
			// modem until Run has recovered it.
			m.noteTimeout()
		}
		if stage == stageCommand {
			// The modem never had the PDU: another SIM may send it at once.
			err = fmt.Errorf("%w: %w", ErrNotSent, err)
		}
		return 0, err
	}
	mr, ok := messageRef(info)
	if !ok {
		// Sent (OK) but no reference: delivery reports cannot be matched.
		return -1, nil
	}
	return mr, nil
}

// messageRef reads <mr> from AT+CMGS's answer "+CMGS: <mr>[,<ackpdu>]"
// (3GPP TS 27.005 §3.5.1).
func messageRef(info []string) (int, bool) {
	for _, l := range info {
		if v, ok := strings.CutPrefix(l, "+CMGS:"); ok {
			if i := strings.IndexByte(v, ','); i >= 0 {
				v = v[:i]
			}
			return atoi(v)
		}
	}
	return 0, false
}

// USSD sends a USSD code (e.g. *100#) and returns the network's answer. A
// session the network keeps open for a reply is closed again.
func (m *Modem) USSD(ctx context.Context, code string) (string, error) {
	code = strings.TrimSpace(code)
	if code == "" || len(code) > 160 || strings.ContainsAny(code, "\"\r\n") {
		return "", fmt.Errorf("%w: %q is not a USSD code like *100#", ErrUSSD, code)
	}
	m.opMu.Lock()
	defer m.opMu.Unlock()
	c, err := m.ready()
	if err != nil {
		return "", err
	}
	select { // an old, late answer is not ours
	case <-m.ussd:
	default:
	}
	m.mu.Lock()
	packed := m.dialect.ussdPacked
	m.mu.Unlock()
	arg := code
	if packed {
		arg = packUSSD(code)
	}
	if _, err := m.command(c, fmt.Sprintf(`+CUSD=1,"%s",15`, arg)); err != nil {
		return "", fmt.Errorf("%w: %w", ErrUSSD, err)
	}
	t := time.NewTimer(m.cfg.SendTimeout)
	defer t.Stop()
	var line string
	select {
	case <-ctx.Done():
		_, _ = m.command(c, "+CUSD=2")
		return "", ctx.Err()
	case <-t.C:
		_, _ = m.command(c, "+CUSD=2")
		return "", fmt.Errorf("%w: no answer from the network within %s", ErrUSSD, m.cfg.SendTimeout)
	case line = <-m.ussd:
	}
	f := fields(strings.TrimSpace(strings.TrimPrefix(line, "+CUSD:")))
	status, _ := atoi(f[0])
	text := ""
	if len(f) >= 2 {
		dcs := 15
		if len(f) >= 3 {
			if v, ok := atoi(f[2]); ok {
				dcs = v
			}
		}
		text = decodeUSSD(f[1], dcs, packed)
	}
	switch status {
	case 0, 2:
		return text, nil
	case 1:
		// The network waits for a reply (menu); pbxgate only queries.
		_, _ = m.command(c, "+CUSD=2")
		return text, nil
	case 4:
		return text, fmt.Errorf("%w: operation not supported by the network", ErrUSSD)
	case 5:
		return text, fmt.Errorf("%w: network timed out", ErrUSSD)
	}
	return text, fmt.Errorf("%w: network answered with status %d", ErrUSSD, status)
}

func (m *Modem) ussdIndication(lines []string) {
	select {
	case m.ussd <- lines[0]:
	default: // nobody asked, or an answer is already waiting
	}
}

// packUSSD encodes a USSD string the way Huawei sticks expect it: hex of
// packed GSM 7-bit septets, 7 spare bits filled with CR (3GPP TS 23.038
// §6.1.2.3.1). warthog618/sms v0.3.0's Pack7BitUSSD misplaces that fill
// and corrupts the last character of some lengths, so it is not used.
func packUSSD(s string) string {
	septets, ok := sms.GSM7Septets(s)
	if !ok {
		return s
	}
	if len(septets)%8 == 7 {
		septets = append(septets, '\r')
	}
	out := make([]byte, (len(septets)*7+7)/8)
	for i, c := range septets {
		bit := i * 7
		idx, off := bit/8, bit%8
		out[idx] |= c << off
		if off > 1 {
			out[idx+1] |= c >> (8 - off)
		}
	}
	return strings.ToUpper(hex.EncodeToString(out))
}

// unpackUSSD unpacks GSM 7-bit septets. A CR filling exactly 7 spare bits
// is padding (3GPP TS 23.038 §6.1.2.3.1), not text.
func unpackUSSD(b []byte) []byte {
	n := len(b) * 8 / 7
	out := make([]byte, n)
	for i := range n {
		bit := i * 7
		idx, off := bit/8, bit%8
		v := uint16(b[idx]) >> off
		if off > 1 && idx+1 < len(b) {
			v |= uint16(b[idx+1]) << (8 - off)
		}
		out[i] = byte(v & 0x7f)
	}
	if n > 0 && len(b)*8%7 == 0 && (out[n-1] == '\r' || out[n-1] == 0) {
		out = out[:n-1]
	}
	return out
}

// decodeUSSD decodes the string of a +CUSD answer. With AT+CSCS="GSM" most
// modems give text; UCS-2 answers (DCS 0x48, or 0x11 with a language
// prefix) come as hex; Huawei sticks (packed) give hex of packed septets.
func decodeUSSD(s string, dcs int, packed bool) string {
	ucs2 := dcs == 0x11 || dcs&0xCC == 0x48 || (dcs&0xF0 == 0x40 && dcs&0x0C == 0x08) || (dcs&0xF0 == 0x90 && dcs&0x0C == 0x08)
	if !ucs2 {
		if !packed {
			return s
		}
		b, err := hex.DecodeString(s)
		if err != nil {
			return s
		}
		return sms.GSM7Text(unpackUSSD(b))
	}
	b, err := hex.DecodeString(s)
	if err != nil || len(b)%2 != 0 {
		return s
	}
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = uint16(b[2*i])<<8 | uint16(b[2*i+1])
	}
	if dcs == 0x11 && len(u) > 0 {
		u = u[1:] // language indication
	}
	return string(utf16.Decode(u))
}
