package modemsim

import (
	"context"
	"encoding/hex"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"

	"github.com/warthog618/sms"
	"github.com/warthog618/sms/encoding/tpdu"
)

// startCMGS answers AT+CMGS with the "> " prompt (or an error).
func (s *session) startCMGS(c cmd) {
	m := s.m
	m.mu.Lock()
	e := m.simCheckLocked(true)
	textMode := m.cmgf == 1
	m.mu.Unlock()
	if e != "" {
		s.respond(errReply(e))
		return
	}
	m.mu.Lock()
	noPrompt := m.fault.NoPrompt
	m.mu.Unlock()
	if noPrompt {
		return // no prompt, no error: the driver has to give up by itself
	}
	p := params(c.args)
	s.cmgsLen, s.cmgsDA = 0, ""
	if textMode {
		if len(p) == 0 || p[0] == "" {
			s.respond(errReply(cms(cmsInvalidText)))
			return
		}
		s.cmgsDA = p[0]
	} else {
		n, ok := intParam(p, 0, -1)
		if !ok || n < 7 || n > 164 {
			s.respond(errReply(cms(cmsInvalidPDU)))
			return
		}
		s.cmgsLen = n
	}
	s.prompt = true
	s.pduBuf = nil
	s.write("\r\n> ")
}

// submit handles the PDU (or text) typed after the prompt.
func (s *session) submit(body string) {
	m := s.m
	m.mu.Lock()
	textMode := m.cmgf == 1
	cscs := m.cscs
	m.mu.Unlock()

	var t *tpdu.TPDU
	if textMode {
		text := body
		if cscs == "UCS2" {
			text = fromUCS2Hex(body)
		}
		ts, err := sms.Encode([]byte(text), sms.To(s.cmgsDA))
		if err != nil || len(ts) != 1 {
			s.respond(errReply(cms(cmsInvalidText)))
			return
		}
		t = &ts[0]
	} else {
		var err error
		t, err = parseSubmit(strings.Join(strings.Fields(body), ""), s.cmgsLen)
		if err != nil {
			m.log.Debug("modemsim: rejected submit PDU", "imei", m.cfg.IMEI, "err", err)
			s.respond(errReply(cms(cmsInvalidPDU)))
			return
		}
	}

	m.mu.Lock()
	if !m.registeredLocked() {
		m.mu.Unlock()
		s.respond(errReply(cms(cmsNoNetwork)))
		return
	}
	if code := m.rollCMSLocked(); code != 0 {
		m.mu.Unlock()
		s.respond(errReply(cms(code)))
		return
	}
	delay := m.cfg.SendLatency
	if m.cfg.SendJitter > 0 {
		delay += time.Duration(m.rng.Int63n(int64(m.cfg.SendJitter)))
	}
	m.mu.Unlock()

	if delay > 0 && !sleep(s.ctx, delay) {
		return
	}
	raw, err := t.MarshalBinary()
	if err != nil {
		s.respond(errReply(cms(cmsInvalidPDU)))
		return
	}
	now := time.Now()
	m.mu.Lock()
	mr := m.mr
	m.mr = (m.mr + 1) % 256
	to := t.DA.Number()
	m.recordSentLocked(to, t, mr, strings.ToUpper(hex.EncodeToString(raw)), now)
	m.mu.Unlock()

	m.net.routeSubmit(m, t, mr, now)
	m.mu.Lock()
	hang := m.fault.HangAfterPDU
	if hang {
		m.fault.HangAfterPDU, m.fault.Hang = false, true
	}
	m.mu.Unlock()
	if hang {
		return // sent, but the answer never comes
	}
	s.respond(reply{info: []string{"+CMGS: " + strconv.Itoa(mr)}, final: "OK"})
}

// rollCMSLocked picks a configured +CMS ERROR by its probability, 0 if none.
func (m *Modem) rollCMSLocked() int {
	if len(m.fault.CMSErrors) == 0 {
		return 0
	}
	codes := make([]int, 0, len(m.fault.CMSErrors))
	for c := range m.fault.CMSErrors {
		codes = append(codes, c)
	}
	sort.Ints(codes)
	r := m.rng.Float64()
	acc := 0.0
	for _, c := range codes {
		acc += m.fault.CMSErrors[c]
		if r < acc {
			return c
		}
	}
	return 0
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func utf16Units(r rune) []uint16 { return utf16.Encode([]rune{r}) }

// fromUCS2Hex decodes the UCS2 hex the TE uses with AT+CSCS="UCS2";
// input that is not UCS2 hex is returned unchanged.
func fromUCS2Hex(s string) string {
	b, err := hex.DecodeString(s)
	if err != nil || len(b)%2 != 0 {
		return s
	}
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = uint16(b[2*i])<<8 | uint16(b[2*i+1])
	}
	return string(utf16.Decode(u))
}

// deliverPending hands the modem what the network holds for it, as far as
// the modem can take it now. It returns the accepted callbacks to run
// outside the lock.
func (m *Modem) deliverPending(attached bool) []func() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.regURCsLocked()
	if m.closed || m.rebooting || m.fault.Hang || !m.registeredLocked() || len(m.pending) == 0 {
		return nil
	}
	if m.awaitingAckLocked() && m.cnmi[3] == 1 && onlyReports(m.pending) {
		// Every one waits for the AT+CNMA of the routed one before: a
		// backlog of reports costs no pass over it per wake-up.
		return nil
	}
	var acc []func()
	// Filtered in place: a pass that takes nothing (reports waiting for
	// an AT+CNMA) allocates nothing.
	keep := m.pending[:0]
	for _, p := range m.pending {
		if !m.takeLocked(p, attached) {
			keep = append(keep, p)
			continue
		}
		if p.accepted != nil {
			acc = append(acc, p.accepted)
			p.accepted = nil // a redelivery (missing +CNMA) reports once
		}
	}
	clear(m.pending[len(keep):])
	m.pending = keep
	return acc
}

func onlyReports(ps []*pendingPart) bool {
	for _, p := range ps {
		if !p.report {
			return false
		}
	}
	return true
}

// regURCsLocked emits +CREG/+CEREG when the registration changed.
func (m *Modem) regURCsLocked() {
	st := m.regStatLocked()
	if st == m.lastReg {
		return
	}
	m.lastReg = st
	if m.creg > 0 {
		m.urcs = append(m.urcs, fmt.Sprintf("+CREG: %d", st))
	}
	if m.cereg > 0 && m.model.hasCEREG {
		m.urcs = append(m.urcs, fmt.Sprintf("+CEREG: %d", st))
	}
}

// takeLocked delivers one part: routed (+CMT/+CDS) or stored (+CMTI/+CDSI)
// per AT+CNMI. It reports false when the modem cannot take it yet.
func (m *Modem) takeLocked(p *pendingPart, attached bool) bool {
	mode, mt, ds := m.cnmi[0], m.cnmi[1], m.cnmi[3]
	if p.report && ds == 1 && m.awaitingAckLocked() {
		return false // waits for the AT+CNMA of the one before
	}
	hexs, l, err := p.encoded(m.net.smsc)
	if err != nil {
		m.log.Error("modemsim: cannot encode PDU, dropping it", "imei", m.cfg.IMEI, "err", err)
		return true
	}
	if p.report {
		switch ds {
		case 0:
			if !m.cfg.StoreReportsUnannounced {
				return true // the TE did not ask for reports: the network's copy is gone
			}
			memName := m.model.statusMemory
			if memName == "" {
				memName = m.mem[2]
			}
			_, ok := m.storeLocked(memName, p.pdu)
			return ok
		case 1:
			if !attached || mode == 0 || m.awaitingAckLocked() {
				return false
			}
			if m.cmgf == 0 {
				m.urcs = append(m.urcs, fmt.Sprintf("+CDS: %d\r\n%s", l, hexs))
			} else {
				t := p.pdu
				m.urcs = append(m.urcs, fmt.Sprintf(`+CDS: 6,%d,"%s",%d,"%s","%s",%d`, t.MR, t.RA.Number(),
					toa(t.RA.Number()), textTime(t.SCTS.Time), textTime(t.DT.Time), t.ST))
			}
			m.awaitAckLocked(p)
			return true
		}
		memName := m.model.statusMemory
		if memName == "" {
			memName = m.mem[2]
		}
		slot, ok := m.storeLocked(memName, p.pdu)
		if !ok {
			return false
		}
		announce := memName
		if m.model.srQuirk {
			announce = "SM"
		}
		if mode != 0 {
			m.urcs = append(m.urcs, fmt.Sprintf(`+CDSI: "%s",%d`, announce, slot+m.model.firstIndex))
		}
		return true
	}
	route := (m.fault.RouteDirect || mt == 2 || mt == 3) && !isClass2(p.pdu)
	if mt == 3 && !m.fault.RouteDirect {
		c, err := p.pdu.DCS.Class()
		route = err == nil && c == tpdu.MClass3
	}
	if route && mode != 0 {
		if !attached {
			return false // nobody to route to: the network retries
		}
		if m.awaitingAckLocked() {
			return false
		}
		if m.cmgf == 0 {
			m.urcs = append(m.urcs, fmt.Sprintf("+CMT: ,%d\r\n%s", l, hexs))
		} else {
			t := p.pdu
			m.urcs = append(m.urcs, fmt.Sprintf(`+CMT: "%s",,"%s"`+"\r\n%s", t.OA.Number(), textTime(t.SCTS.Time), m.teText(textOf(t))))
		}
		m.awaitAckLocked(p)
		return true
	}
	slot, ok := m.storeLocked(m.mem[2], p.pdu)
	if !ok {
		return false
	}
	if mode != 0 && mt != 0 {
		m.urcs = append(m.urcs, fmt.Sprintf(`+CMTI: "%s",%d`, m.mem[2], slot+m.model.firstIndex))
	}
	return true
}

func (m *Modem) storeLocked(memName string, t *tpdu.TPDU) (int, bool) {
	if m.fault.StorageFull {
		return 0, false
	}
	mem := m.mems[memName]
	if mem == nil {
		return 0, false
	}
	return mem.put(&stored{stat: statRecUnread, pdu: t})
}

// awaitingAckLocked: a routed +CMT/+CDS awaits its AT+CNMA; "TA shall not
// send another +CMT or +CDS result code to TE before previous one is
// acknowledged" (27.005 §3.4.4, as in Siemens' MC35/MC55 AT manuals;
// Telit: "next +CDS response is depend on acknowledge of current").
func (m *Modem) awaitingAckLocked() bool { return m.csms == 1 && len(m.unacked) > 0 }

// awaitAckLocked starts the AT+CNMA timer for a routed part (AT+CSMS=1).
func (m *Modem) awaitAckLocked(p *pendingPart) {
	if m.csms != 1 {
		return
	}
	m.unacked = append(m.unacked, p)
	p.stopAck = m.net.afterFunc(m.cfg.AckTimeout, func() { m.ackTimedOut(p) })
}

// ackTimedOut: the TE never acknowledged p. The network keeps it for a
// later attempt and the modem stops routing (27.005 +CNMA).
func (m *Modem) ackTimedOut(p *pendingPart) {
	m.mu.Lock()
	found := false
	for i, u := range m.unacked {
		if u == p {
			m.unacked = append(m.unacked[:i:i], m.unacked[i+1:]...)
			found = true
			break
		}
	}
	if found {
		m.pending = append([]*pendingPart{p}, m.pending...)
		m.cnmi[1], m.cnmi[3] = 0, 0
	}
	m.mu.Unlock()
	if found {
		m.kick()
	}
}
