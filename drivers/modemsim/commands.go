package modemsim

import (
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/warthog618/sms/encoding/gsm7"
	"github.com/warthog618/sms/encoding/tpdu"
)

// CME error codes (3GPP TS 27.007 9.2) the simulator uses.
const (
	cmeNotAllowed    = 3
	cmeNotSupported  = 4
	cmeNoSIM         = 10
	cmeSIMPINReq     = 11
	cmeSIMPUKReq     = 12
	cmeWrongPassword = 16
	cmeInvalidIndex  = 21
	cmeNoNetwork     = 30
	cmeBadParams     = 50
	cmeSIMBlocked    = 262
)

var cmeText = map[int]string{
	cmeNotAllowed:    "operation not allowed",
	cmeNotSupported:  "operation not supported",
	cmeNoSIM:         "SIM not inserted",
	cmeSIMPINReq:     "SIM PIN required",
	cmeSIMPUKReq:     "SIM PUK required",
	cmeWrongPassword: "incorrect password",
	cmeInvalidIndex:  "invalid index",
	cmeNoNetwork:     "no network service",
	cmeBadParams:     "incorrect parameters",
	cmeSIMBlocked:    "SIM blocked",
}

// CMS error codes (3GPP TS 27.005 3.2.5) the simulator uses.
const (
	cmsNotAllowed    = 302
	cmsNotSupported  = 303
	cmsInvalidPDU    = 304
	cmsInvalidText   = 305
	cmsSIMPINReq     = 311
	cmsSIMPUKReq     = 316
	cmsInvalidIndex  = 321
	cmsNoNetwork     = 331
	cmsNoAckExpected = 340
	cmsUnknown       = 500
)

func (m *Modem) cmeLocked(code int) string {
	switch m.cmee {
	case 0:
		return "ERROR"
	case 2:
		if t, ok := cmeText[code]; ok {
			return "+CME ERROR: " + t
		}
	}
	return "+CME ERROR: " + strconv.Itoa(code)
}

func cms(code int) string { return "+CMS ERROR: " + strconv.Itoa(code) }

func errReply(final string) reply { return reply{final: final} }

var okReply = reply{final: "OK"}

// simCheckLocked returns the CME or CMS error for a command that needs an
// unlocked SIM, or "".
func (m *Modem) simCheckLocked(smsCmd bool) string {
	var cme, cmsc int
	switch {
	case m.fault.NoSIM:
		cme, cmsc = cmeNoSIM, 310
	case m.sim == simReady:
		return ""
	case m.sim == simPIN:
		cme, cmsc = cmeSIMPINReq, cmsSIMPINReq
	case m.sim == simPUK:
		cme, cmsc = cmeSIMPUKReq, cmsSIMPUKReq
	default:
		cme, cmsc = cmeSIMBlocked, 310
	}
	if smsCmd {
		return cms(cmsc)
	}
	return m.cmeLocked(cme)
}

// exec runs one command with the modem lock held.
func (s *session) exec(c cmd) reply {
	m := s.m
	m.mu.Lock()
	defer m.mu.Unlock()
	if f, ok := m.model.iccid[c.name]; ok {
		if c.op == "=?" {
			return okReply
		}
		if m.fault.NoSIM {
			return errReply(m.cmeLocked(cmeNoSIM))
		}
		return reply{info: []string{f(m.cfg.ICCID)}, final: "OK"}
	}
	if c.name == m.model.pinCounter {
		return s.pinCounter(c)
	}
	if m.model.accepted(c.name) {
		return okReply
	}
	h, ok := handlers[c.name]
	if !ok {
		if h, ok = mmsHandler(m.model.mms, c.name); !ok {
			return errReply("ERROR")
		}
	}
	return h(s, c)
}

type handler func(s *session, c cmd) reply

var handlers map[string]handler

func init() {
	handlers = map[string]handler{
		"Z": func(s *session, c cmd) reply { s.m.resetSettingsLocked(); return okReply },
		"&F": func(s *session, c cmd) reply {
			s.m.resetSettingsLocked()
			return okReply
		},
		"&W": func(*session, cmd) reply { return okReply },
		"&C": func(*session, cmd) reply { return okReply },
		"&D": func(*session, cmd) reply { return okReply },
		"Q":  func(s *session, c cmd) reply { return boolSetting(c, nil) },
		"X":  func(*session, cmd) reply { return okReply },
		"S": func(s *session, c cmd) reply {
			if c.op == "?" {
				return reply{info: []string{"000"}, final: "OK"}
			}
			return okReply
		},
		"E": func(s *session, c cmd) reply { return boolSetting(c, &s.m.echo) },
		"V": func(s *session, c cmd) reply { return boolSetting(c, &s.m.verbose) },
		"I": func(s *session, c cmd) reply {
			return reply{info: s.m.model.ati(s.m.model, s.m.cfg.IMEI), final: "OK"}
		},
		"+CGMI": identity(func(m *Modem) string { return m.model.manufacturer }),
		"+GMI":  identity(func(m *Modem) string { return m.model.manufacturer }),
		"+CGMM": identity(func(m *Modem) string { return m.model.modelID }),
		"+GMM":  identity(func(m *Modem) string { return m.model.modelID }),
		"+CGMR": identity(func(m *Modem) string { return m.model.revision }),
		"+GMR":  identity(func(m *Modem) string { return m.model.revision }),
		"+CGSN": identity(func(m *Modem) string { return m.cfg.IMEI }),
		"+GSN":  identity(func(m *Modem) string { return m.cfg.IMEI }),
		"+GCAP": identity(func(m *Modem) string { return "+GCAP: +CGSM" }),
		"+CIMI": func(s *session, c cmd) reply {
			if e := s.m.simCheckLocked(false); e != "" {
				return errReply(e)
			}
			return identity(func(m *Modem) string { return m.cfg.IMSI })(s, c)
		},
		"+CNUM": func(s *session, c cmd) reply {
			if e := s.m.simCheckLocked(false); e != "" {
				return errReply(e)
			}
			if c.op == "=?" {
				return okReply
			}
			return reply{info: []string{fmt.Sprintf(`+CNUM: "","%s",%d`, s.m.cfg.Number, toa(s.m.cfg.Number))}, final: "OK"}
		},
		"+CMEE": intSetting("+CMEE", 0, 2, func(m *Modem) *int { return &m.cmee }),
		"+CMGF": intSetting("+CMGF", 0, 1, func(m *Modem) *int { return &m.cmgf }),
		"+CPIN": (*session).cpin,
		"+CSQ": func(s *session, c cmd) reply {
			if c.op == "=?" {
				return reply{info: []string{"+CSQ: (0-31,99),(0-7,99)"}, final: "OK"}
			}
			rssi := s.m.cfg.RSSI
			if s.m.cfun != 1 {
				rssi = 99
			}
			return reply{info: []string{fmt.Sprintf("+CSQ: %d,99", rssi)}, final: "OK"}
		},
		"+CREG":  regCommand("+CREG", func(m *Modem) *int { return &m.creg }),
		"+CGREG": regCommand("+CGREG", func(m *Modem) *int { return new(int) }),
		"+CEREG": func(s *session, c cmd) reply {
			if !s.m.model.hasCEREG {
				return errReply("ERROR")
			}
			return regCommand("+CEREG", func(m *Modem) *int { return &m.cereg })(s, c)
		},
		"+COPS": (*session).cops,
		"+CPMS": (*session).cpms,
		"+CNMI": (*session).cnmiCmd,
		"+CSCS": (*session).cscsCmd,
		"+CSMS": (*session).csmsCmd,
		"+CSCA": (*session).csca,
		"+CMGR": (*session).cmgr,
		"+CMGL": (*session).cmgl,
		"+CMGD": (*session).cmgd,
		"+CNMA": (*session).cnma,
		"+CUSD": (*session).cusd,
		"+CFUN": (*session).cfunCmd,
		"+CPAS": func(*session, cmd) reply { return reply{info: []string{"+CPAS: 0"}, final: "OK"} },
		"+CLIP": acceptOnly,
		"+CRC":  acceptOnly,
		"+CSDH": acceptOnly,
		"+CMMS": intSetting("+CMMS", 0, 2, func(m *Modem) *int { return &m.cmms }),
		"^CURC": func(s *session, c cmd) reply {
			if s.m.model.periodicURC == "" {
				return errReply("ERROR")
			}
			v := 0
			if s.m.curc {
				v = 1
			}
			r := intSetting("^CURC", 0, 1, func(*Modem) *int { return &v })(s, c)
			s.m.curc = v == 1
			return r
		},
		"+CMGS": func(s *session, c cmd) reply {
			if c.op == "=?" {
				return okReply
			}
			return errReply(cms(cmsNotAllowed))
		},
	}
}

// acceptOnly takes a setting the simulator does not model with OK.
func acceptOnly(*session, cmd) reply { return okReply }

func identity(f func(m *Modem) string) handler {
	return func(s *session, c cmd) reply {
		if c.op == "=?" {
			return okReply
		}
		if c.op != "" {
			return errReply("ERROR")
		}
		return reply{info: []string{f(s.m)}, final: "OK"}
	}
}

// boolSetting handles E0/E1 style basic commands.
func boolSetting(c cmd, v *bool) reply {
	switch c.args {
	case "", "0":
		if v != nil {
			*v = false
		}
	case "1":
		if v != nil {
			*v = true
		}
	default:
		return errReply("ERROR")
	}
	return okReply
}

func intSetting(name string, lo, hi int, field func(m *Modem) *int) handler {
	return func(s *session, c cmd) reply {
		v := field(s.m)
		switch c.op {
		case "?":
			return reply{info: []string{fmt.Sprintf("%s: %d", name, *v)}, final: "OK"}
		case "=?":
			return reply{info: []string{fmt.Sprintf("%s: (%d-%d)", name, lo, hi)}, final: "OK"}
		case "=":
			n, ok := intParam(params(c.args), 0, 0)
			if !ok || n < lo || n > hi {
				return errReply(s.m.cmeLocked(cmeBadParams))
			}
			*v = n
			return okReply
		}
		return errReply("ERROR")
	}
}

func regCommand(name string, field func(m *Modem) *int) handler {
	return func(s *session, c cmd) reply {
		m := s.m
		n := field(m)
		switch c.op {
		case "=?":
			return reply{info: []string{name + ": (0-2)"}, final: "OK"}
		case "=":
			v, ok := intParam(params(c.args), 0, 0)
			if !ok || v < 0 || v > 2 {
				return errReply(m.cmeLocked(cmeBadParams))
			}
			*n = v
			return okReply
		case "?":
			stat := m.regStatLocked()
			line := fmt.Sprintf("%s: %d,%d", name, *n, stat)
			if *n == 2 && stat == 1 {
				line += fmt.Sprintf(`,"1A2B","%07X"`, 0x1000000+len(m.cfg.IMSI))
				if m.model.act != 0 {
					line += fmt.Sprintf(",%d", m.model.act)
				}
			}
			return reply{info: []string{line}, final: "OK"}
		}
		return errReply("ERROR")
	}
}

func (m *Modem) resetSettingsLocked() {
	m.echo, m.verbose = true, true
	m.cmee, m.cmgf = m.model.cmeeDefault, 0
	m.cscs = "GSM"
	m.cnmi = m.model.cnmiDefault
	if m.cfg.CNMI != nil {
		m.cnmi = *m.cfg.CNMI
	}
	m.creg, m.cereg = 0, 0
}

func (s *session) cpin(c cmd) reply {
	m := s.m
	switch c.op {
	case "=?":
		return okReply
	case "?":
		if m.fault.NoSIM {
			return errReply(m.cmeLocked(cmeNoSIM))
		}
		st := map[simState]string{simReady: "READY", simPIN: "SIM PIN", simPUK: "SIM PUK"}[m.sim]
		if m.sim == simBlocked {
			return errReply(m.cmeLocked(cmeSIMBlocked))
		}
		return reply{info: []string{"+CPIN: " + st}, final: "OK"}
	case "=":
		p := params(c.args)
		if len(p) == 0 {
			return errReply(m.cmeLocked(cmeBadParams))
		}
		if m.fault.NoSIM {
			return errReply(m.cmeLocked(cmeNoSIM))
		}
		switch m.sim {
		case simReady:
			return errReply(m.cmeLocked(cmeNotAllowed))
		case simPIN:
			if p[0] != m.pin {
				m.pinTries--
				if m.pinTries <= 0 {
					m.sim = simPUK
				}
				return errReply(m.cmeLocked(cmeWrongPassword))
			}
			m.sim, m.pinTries = simReady, 3
			m.startSearchLocked()
			return okReply
		case simPUK:
			if len(p) < 2 {
				return errReply(m.cmeLocked(cmeSIMPUKReq))
			}
			if p[0] != m.cfg.PUK {
				m.pukTries--
				if m.pukTries <= 0 {
					m.sim = simBlocked
				}
				return errReply(m.cmeLocked(cmeWrongPassword))
			}
			m.sim, m.pin, m.pinTries, m.pukTries = simReady, p[1], 3, 10
			m.startSearchLocked()
			return okReply
		}
		return errReply(m.cmeLocked(cmeSIMBlocked))
	}
	return errReply("ERROR")
}

// pinCounter answers the vendor command for remaining PIN/PUK attempts.
func (s *session) pinCounter(c cmd) reply {
	m := s.m
	if c.op == "=?" {
		return okReply
	}
	var line string
	switch m.model.pinCounter {
	case "+QPINC":
		line = fmt.Sprintf(`+QPINC: "SC",%d,%d`, m.pinTries, m.pukTries)
	case "+SPIC":
		line = fmt.Sprintf("+SPIC: %d,%d,3,10", m.pinTries, m.pukTries)
	case "^CPIN":
		code := map[simState]string{simReady: "READY", simPIN: "SIM PIN", simPUK: "SIM PUK", simBlocked: "SIM PUK"}[m.sim]
		times := m.pinTries
		if m.sim == simPUK || m.sim == simBlocked {
			times = m.pukTries
		}
		line = fmt.Sprintf("^CPIN: %s,%d,%d,%d,3,10", code, times, m.pukTries, m.pinTries)
	}
	return reply{info: []string{line}, final: "OK"}
}

func (s *session) cops(c cmd) reply {
	m := s.m
	switch c.op {
	case "=?":
		return reply{info: []string{fmt.Sprintf(`+COPS: (2,"%s","%s","%s",%d),,(0-4),(0-2)`,
			m.cfg.Operator, m.cfg.Operator, m.cfg.IMSI[:5], m.model.act)}, final: "OK"}
	case "=":
		return okReply
	case "?":
		if !m.registeredLocked() {
			return reply{info: []string{"+COPS: 0"}, final: "OK"}
		}
		return reply{info: []string{fmt.Sprintf(`+COPS: 0,0,"%s",%d`, m.cfg.Operator, m.model.act)}, final: "OK"}
	}
	return errReply("ERROR")
}

func (s *session) cpms(c cmd) reply {
	m := s.m
	if e := m.simCheckLocked(true); e != "" {
		return errReply(e)
	}
	switch c.op {
	case "=?":
		mems := m.model.memories
		if m.cfg.UnlistedSR {
			mems = slices.DeleteFunc(slices.Clone(mems), func(x string) bool { return x == "SR" })
		}
		l := `("` + strings.Join(mems, `","`) + `")`
		return reply{info: []string{"+CPMS: " + l + "," + l + "," + l}, final: "OK"}
	case "?":
		parts := make([]string, 3)
		for i, name := range m.mem {
			mem := m.mems[name]
			parts[i] = fmt.Sprintf(`"%s",%d,%d`, name, mem.used(), mem.total())
		}
		return reply{info: []string{"+CPMS: " + strings.Join(parts, ",")}, final: "OK"}
	case "=":
		p := params(c.args)
		if len(p) == 0 || len(p) > 3 {
			return errReply(cms(cmsNotAllowed))
		}
		next := m.mem
		for i, name := range p {
			name = strings.ToUpper(name)
			if !m.model.hasMemory(name) {
				return errReply(cms(cmsNotAllowed))
			}
			if slices.Contains(m.fault.RefuseMemories, name) {
				return errReply(cms(cmsNotAllowed))
			}
			next[i] = name
		}
		m.mem = next
		var nums []string
		for _, name := range m.mem {
			mem := m.mems[name]
			nums = append(nums, strconv.Itoa(mem.used()), strconv.Itoa(mem.total()))
		}
		return reply{info: []string{"+CPMS: " + strings.Join(nums, ",")}, final: "OK"}
	}
	return errReply("ERROR")
}

func (s *session) cnmiCmd(c cmd) reply {
	m := s.m
	switch c.op {
	case "=?":
		ds := "0-2"
		if len(m.cfg.CNMIDS) == 0 && m.model.cnmiTest != "" {
			return reply{info: []string{m.model.cnmiTest}, final: "OK"}
		}
		if len(m.cfg.CNMIDS) > 0 {
			var l []string
			for _, v := range m.cfg.CNMIDS {
				l = append(l, strconv.Itoa(v))
			}
			ds = strings.Join(l, ",")
		}
		return reply{info: []string{"+CNMI: (0-2),(0-3),(0,2),(" + ds + "),(0,1)"}, final: "OK"}
	case "?":
		v := m.cnmi
		return reply{info: []string{fmt.Sprintf("+CNMI: %d,%d,%d,%d,%d", v[0], v[1], v[2], v[3], v[4])}, final: "OK"}
	case "=":
		p := params(c.args)
		max := [5]int{3, 3, 3, 2, 1}
		next := m.cnmi
		for i := range p {
			if i >= 5 {
				return errReply(cms(cmsNotAllowed))
			}
			v, ok := intParam(p, i, next[i])
			if !ok || v < 0 || v > max[i] {
				return errReply(cms(cmsNotAllowed))
			}
			next[i] = v
		}
		dsOK := m.cfg.CNMIDS
		if len(dsOK) == 0 {
			dsOK = m.model.cnmiDS
		}
		if len(dsOK) > 0 && !slices.Contains(dsOK, next[3]) {
			return errReply(cms(cmsNotSupported))
		}
		m.cnmi = next
		return okReply
	}
	return errReply("ERROR")
}

func (s *session) cscsCmd(c cmd) reply {
	m := s.m
	switch c.op {
	case "=?":
		return reply{info: []string{`+CSCS: ("GSM","IRA","UCS2")`}, final: "OK"}
	case "?":
		return reply{info: []string{`+CSCS: "` + m.cscs + `"`}, final: "OK"}
	case "=":
		p := params(c.args)
		if len(p) != 1 {
			return errReply(m.cmeLocked(cmeBadParams))
		}
		switch cs := strings.ToUpper(p[0]); cs {
		case "GSM", "IRA", "UCS2":
			m.cscs = cs
			return okReply
		}
		return errReply(m.cmeLocked(cmeBadParams))
	}
	return errReply("ERROR")
}

func (s *session) csmsCmd(c cmd) reply {
	m := s.m
	switch c.op {
	case "=?":
		return reply{info: []string{"+CSMS: (0,1)"}, final: "OK"}
	case "?":
		return reply{info: []string{fmt.Sprintf("+CSMS: %d,1,1,1", m.csms)}, final: "OK"}
	case "=":
		v, ok := intParam(params(c.args), 0, 0)
		if !ok || v < 0 || v > 1 {
			return errReply(cms(cmsNotAllowed))
		}
		m.csms = v
		return reply{info: []string{"+CSMS: 1,1,1"}, final: "OK"}
	}
	return errReply("ERROR")
}

func (s *session) csca(c cmd) reply {
	m := s.m
	if e := m.simCheckLocked(true); e != "" {
		return errReply(e)
	}
	switch c.op {
	case "?":
		return reply{info: []string{fmt.Sprintf(`+CSCA: "%s",%d`, m.net.smsc, toa(m.net.smsc))}, final: "OK"}
	case "=", "=?":
		return okReply
	}
	return errReply("ERROR")
}

// readMemLocked is <mem1>, where CMGR/CMGL/CMGD work.
func (m *Modem) readMemLocked() *memory { return m.mems[m.mem[0]] }

func (m *Modem) slotOf(p []string, i int) (int, bool) {
	idx, ok := intParam(p, i, -1)
	if !ok || idx < 0 {
		return 0, false
	}
	return idx - m.model.firstIndex, true
}

// storedLines renders a stored message for CMGR (header + PDU or text).
func (m *Modem) storedLines(prefix string, index int, st *stored) ([]string, error) {
	if m.cmgf == 0 {
		hexs, l, err := pduHex(m.net.smsc, st.pdu)
		if err != nil {
			return nil, err
		}
		head := fmt.Sprintf("%s: %d,,%d", prefix, st.stat, l)
		if index >= 0 {
			head = fmt.Sprintf("%s: %d,%d,,%d", prefix, index, st.stat, l)
		}
		return []string{head, hexs}, nil
	}
	stat := statText[st.stat]
	idx := ""
	if index >= 0 {
		idx = strconv.Itoa(index) + ","
	}
	t := st.pdu
	if t.SmsType() == tpdu.SmsStatusReport {
		return []string{fmt.Sprintf(`%s: %s"%s",6,%d,"%s",%d,"%s","%s",%d`, prefix, idx, stat, t.MR,
			t.RA.Number(), toa(t.RA.Number()), textTime(t.SCTS.Time), textTime(t.DT.Time), t.ST)}, nil
	}
	return []string{fmt.Sprintf(`%s: %s"%s","%s",,"%s"`, prefix, idx, stat, t.OA.Number(), textTime(t.SCTS.Time)),
		m.teText(textOf(t))}, nil
}

// teText renders text in the TE character set (AT+CSCS).
func (m *Modem) teText(s string) string {
	if m.cscs != "UCS2" {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		for _, u := range utf16Units(r) {
			fmt.Fprintf(&b, "%04X", u)
		}
	}
	return b.String()
}

func textTime(t time.Time) string {
	_, off := t.Zone()
	sign := "+"
	if off < 0 {
		sign, off = "-", -off
	}
	return t.Format("06/01/02,15:04:05") + fmt.Sprintf("%s%02d", sign, off/900)
}

func toa(number string) int {
	if strings.HasPrefix(number, "+") {
		return 145
	}
	return 129
}

func (s *session) cmgr(c cmd) reply {
	m := s.m
	if e := m.simCheckLocked(true); e != "" {
		return errReply(e)
	}
	if c.op == "=?" {
		return okReply
	}
	if c.op != "=" {
		return errReply(cms(cmsNotAllowed))
	}
	mem := m.readMemLocked()
	slot, ok := m.slotOf(params(c.args), 0)
	if !ok || !mem.valid(slot) {
		return errReply(cms(cmsInvalidIndex))
	}
	st := mem.get(slot)
	if st == nil {
		return okReply // empty slot: modems answer a bare OK
	}
	lines, err := m.storedLines("+CMGR", -1, st)
	if err != nil {
		return errReply(cms(cmsUnknown))
	}
	if st.stat == statRecUnread {
		st.stat = statRecRead
	}
	return reply{info: lines, pairs: m.cmgf == 0, final: "OK"}
}

var textStat = map[string]int{"REC UNREAD": 0, "REC READ": 1, "STO UNSENT": 2, "STO SENT": 3, "ALL": 4}

func (s *session) cmgl(c cmd) reply {
	m := s.m
	if e := m.simCheckLocked(true); e != "" {
		return errReply(e)
	}
	if c.op == "=?" {
		if m.cmgf == 0 {
			return reply{info: []string{"+CMGL: (0-4)"}, final: "OK"}
		}
		return reply{info: []string{`+CMGL: ("REC UNREAD","REC READ","STO UNSENT","STO SENT","ALL")`}, final: "OK"}
	}
	want := statRecUnread
	if p := params(c.args); len(p) > 0 {
		if m.cmgf == 0 {
			v, ok := intParam(p, 0, 0)
			if !ok || v < 0 || v > 4 || strings.Contains(c.args, `"`) {
				return errReply(cms(cmsNotAllowed))
			}
			want = v
		} else {
			v, ok := textStat[strings.ToUpper(p[0])]
			if !ok {
				return errReply(cms(cmsInvalidText))
			}
			want = v
		}
	}
	mem := m.readMemLocked()
	var info []string
	for slot, st := range mem.slots {
		if st == nil || (want != statAll && st.stat != want) {
			continue
		}
		lines, err := m.storedLines("+CMGL", slot+m.model.firstIndex, st)
		if err != nil {
			return errReply(cms(cmsUnknown))
		}
		info = append(info, lines...)
		if st.stat == statRecUnread {
			st.stat = statRecRead
		}
	}
	return reply{info: info, pairs: true, final: "OK"}
}

func (s *session) cmgd(c cmd) reply {
	m := s.m
	if e := m.simCheckLocked(true); e != "" {
		return errReply(e)
	}
	mem := m.readMemLocked()
	if c.op == "=?" {
		return reply{info: []string{fmt.Sprintf("+CMGD: (%d-%d),(0-4)", m.model.firstIndex, mem.total()-1+m.model.firstIndex)}, final: "OK"}
	}
	if c.op != "=" {
		return errReply(cms(cmsNotAllowed))
	}
	p := params(c.args)
	flag, ok := intParam(p, 1, 0)
	if !ok || flag < 0 || flag > 4 {
		return errReply(cms(cmsNotAllowed))
	}
	if flag > 0 {
		mem.deleteFlag(flag)
		return okReply
	}
	slot, ok := m.slotOf(p, 0)
	if !ok || !mem.valid(slot) {
		return errReply(cms(cmsInvalidIndex))
	}
	mem.del(slot)
	return okReply
}

// cnma acknowledges the routed +CMT/+CDS awaiting it (3GPP TS 27.005
// §3.4.4; Quectel EC25&EC21 AT Commands Manual, AT+CNMA): AT+CNMA or
// AT+CNMA=0/1 sends RP-ACK, AT+CNMA=2 RP-ERROR — the network keeps the
// message and delivers it again after Config.RetryDelay, routing stays on.
// <n> is taken in PDU mode only; with nothing to acknowledge (AT+CSMS=0,
// none routed, or the ack timer ran out) the answer is +CMS ERROR: 340.
// The next routed message follows the acknowledgement.
func (s *session) cnma(c cmd) reply {
	m := s.m
	if c.op == "=?" {
		return reply{info: []string{"+CNMA: (0-2)"}, final: "OK"}
	}
	n := 0
	if c.op == "=" {
		v, ok := intParam(params(c.args), 0, -1)
		if m.cmgf != 0 || !ok || v < 0 || v > 2 {
			return errReply(cms(cmsNotAllowed))
		}
		n = v
	}
	if m.csms != 1 || len(m.unacked) == 0 {
		return errReply(cms(cmsNoAckExpected))
	}
	p := m.unacked[0]
	m.unacked = m.unacked[1:]
	if p.stopAck != nil {
		p.stopAck()
		p.stopAck = nil
	}
	if n == 2 {
		m.net.afterFunc(m.cfg.RetryDelay, func() {
			m.mu.Lock()
			m.pending = append(m.pending, p)
			m.mu.Unlock()
			m.kick()
		})
	}
	m.kick()
	return okReply
}

func (s *session) cusd(c cmd) reply {
	m := s.m
	switch c.op {
	case "=?":
		return reply{info: []string{"+CUSD: (0-2)"}, final: "OK"}
	case "?":
		return reply{info: []string{fmt.Sprintf("+CUSD: %d", m.cusd)}, final: "OK"}
	case "=":
	default:
		return errReply("ERROR")
	}
	p := params(c.args)
	n, ok := intParam(p, 0, 0)
	if !ok || n < 0 || n > 2 {
		return errReply(m.cmeLocked(cmeBadParams))
	}
	if n == 2 {
		return okReply
	}
	m.cusd = n
	if len(p) < 2 {
		return okReply
	}
	if !m.registeredLocked() {
		return errReply(m.cmeLocked(cmeNoNetwork))
	}
	code := p[1]
	switch {
	case m.model.ussdPacked:
		c, ok := unpackUSSD(code)
		if !ok {
			return errReply(m.cmeLocked(cmeBadParams))
		}
		code = c
	case m.cscs == "UCS2":
		code = fromUCS2Hex(code)
	}
	answer, known := m.net.ussdAnswer(code)
	urc := "+CUSD: 4"
	if known {
		answer = strings.ReplaceAll(answer, "%NUMBER%", m.cfg.Number)
		switch {
		case m.model.ussdPacked:
			urc = fmt.Sprintf(`+CUSD: 0,"%s",15`, packUSSD(answer))
		case m.cscs == "UCS2":
			urc = fmt.Sprintf(`+CUSD: 0,"%s",72`, m.teText(answer))
		default:
			urc = fmt.Sprintf(`+CUSD: 0,"%s",15`, answer)
		}
	}
	delay := m.cfg.USSDDelay
	return reply{final: "OK", after: func() {
		m.net.afterFunc(delay, func() { m.addURC(urc) })
	}}
}

func (s *session) cfunCmd(c cmd) reply {
	m := s.m
	switch c.op {
	case "=?":
		return reply{info: []string{"+CFUN: (0,1,4),(0,1)"}, final: "OK"}
	case "?":
		return reply{info: []string{fmt.Sprintf("+CFUN: %d", m.cfun)}, final: "OK"}
	case "=":
	default:
		return errReply("ERROR")
	}
	p := params(c.args)
	fun, ok1 := intParam(p, 0, 1)
	rst, ok2 := intParam(p, 1, 0)
	if !ok1 || !ok2 || (fun != 0 && fun != 1 && fun != 4) || rst < 0 || rst > 1 {
		return errReply(m.cmeLocked(cmeBadParams))
	}
	if rst == 1 {
		return reply{final: "OK", after: func() { s.reboot, s.rebootIn = true, m.cfg.ResetDowntime }}
	}
	if fun == 1 && m.cfun != 1 {
		m.startSearchLocked()
	}
	m.cfun = fun
	return okReply
}

// addURC queues an unsolicited result code for the driver.
func (m *Modem) addURC(line string) {
	m.mu.Lock()
	m.urcs = append(m.urcs, line)
	m.mu.Unlock()
	m.kick()
}

// packUSSD renders text as Huawei sends USSD: hex of packed GSM 7-bit.
func packUSSD(text string) string {
	septets, err := gsm7.Encode([]byte(text))
	if err != nil {
		septets, _ = gsm7.Encode([]byte("?"))
	}
	return strings.ToUpper(hex.EncodeToString(gsm7.Pack7BitUSSD(septets, 0)))
}

// unpackUSSD reads a Huawei-style packed hex USSD string.
func unpackUSSD(s string) (string, bool) {
	b, err := hex.DecodeString(s)
	if err != nil {
		return "", false
	}
	text, err := gsm7.Decode(gsm7.Unpack7BitUSSD(b, 0))
	if err != nil {
		return "", false
	}
	return string(text), true
}
