package modemsim

import (
	"context"
	"fmt"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/pbxgate/pbxgate/gateway/mms"
)

// MMS in the simulator follows two vendor documents:
//
//   - Quectel "LTE Standard MMS Application Note" V1.1 (2020-02-20; EC25,
//     EG25…): AT+QMMSCFG="contextid"|"mmsc"|"proxy"|"character"|"sendparam",
//     files uploaded with AT+QFUPL="RAM:<name>",<size>[,<timeout>[,<ackmode>]]
//     (CONNECT, the bytes, +QFUPL: <size>,<checksum>), the message put
//     together with AT+QMMSEDIT=<function>,<operate>,<opstring> (1 To, 2 Cc,
//     3 Bcc, 4 title, 5 attachment; AT+QMMSEDIT=0 clears it), sent with
//     AT+QMMSEND=<timeout>: OK, then +QMMSEND: <result>[,<http status>].
//     The note describes sending only: the EC25 model cannot fetch MMS.
//   - SIMCom's MMS AT commands (SIM800 Series MMS Application Note V1.00,
//     SIM7100/SIM7600 MMS application note): AT+CMMSCURL, AT+CMMSPROTO,
//     AT+CMMSSENDCFG, AT+CMMSEDIT=1|0, AT+CMMSDOWN="PIC"|"TEXT"|"TITLE"|
//     "FILE",<size>,<timeout>[,"<name>"] (CONNECT, the bytes, OK),
//     AT+CMMSRECP, AT+CMMSSEND (OK, then +CMMSSEND: <err>), and receiving:
//     AT+CMMSRECV="<location>" (OK, then +CMMSRECV: <err>), AT+CMMSVIEW and
//     AT+CMMSREAD=<index> (+CMMSREAD: <index>,<size>, the bytes, OK).
//
// Transcripts these were checked against: "+QMMSEND: 0,200" and
// "+QMMSEND: 775" and the AT+QFUPL CONNECT/+QFUPL exchange in a public
// EC25 driver's tests; AT+CMMSRECV="<location>" waited on as
// "+CMMSRECV: 0" in SIMCom's own Lua sample for the SIM5360/SIM7100;
// AT+CMMSDOWN answered by CONNECT in several SIM800 scripts. The layout
// of AT+CMMSVIEW and AT+CMMSREAD lines is this simulator's reading of the
// manual (docs/mms.md says which lines were not seen in a transcript).

// mmsState is one modem's MMS settings and the message being edited.
type mmsState struct {
	mmsc, proxy string
	proxyPort   int
	editing     bool // SIMCom: AT+CMMSEDIT=1
	to          []string
	subject     string
	text        string
	files       map[string][]byte // uploaded (Quectel RAM:, SIMCom edit buffer)
	order       []string          // attachment order
	attached    []string          // Quectel: AT+QMMSEDIT=5
	busy        bool
	// received: the message fetched last (SIMCom AT+CMMSRECV).
	received *mms.Message
	sends    int // m-send-req transaction counter
}

// upload collects the raw bytes after CONNECT.
type upload struct {
	// lf: the LF of the command line's CR LF may still come; it is not data.
	lf   bool
	want int
	buf  []byte
	done func(data []byte) reply
}

func (s *session) uploadByte(c byte) {
	u := s.upload
	if u.lf {
		u.lf = false
		if c == '\n' {
			return
		}
	}
	u.buf = append(u.buf, c)
	if len(u.buf) < u.want {
		return
	}
	s.upload = nil
	s.m.mu.Lock()
	r := u.done(u.buf)
	s.m.mu.Unlock()
	s.respond(r)
}

// startUpload answers CONNECT and waits for size bytes.
func (s *session) startUpload(size int, done func(data []byte) reply) reply {
	s.upload = &upload{lf: true, want: size, buf: make([]byte, 0, size), done: done}
	return reply{info: []string{"CONNECT"}}
}

// maxUpload is the RAM the modems offer for files (Quectel RAM: is a few
// MB; SIMCom's edit buffer is smaller; both far above carrier limits).
const maxUpload = 2 << 20

func mmsHandler(dialect, name string) (handler, bool) {
	var h handler
	switch dialect {
	case "quectel":
		h = map[string]handler{
			"+QMMSCFG":  (*session).qmmscfg,
			"+QFUPL":    (*session).qfupl,
			"+QFDEL":    (*session).qfdel,
			"+QMMSEDIT": (*session).qmmsedit,
			"+QMMSEND":  (*session).qmmsend,
			"+QICSGP":   acceptOnly,
		}[name]
	case "simcom":
		h = map[string]handler{
			"+CMMSINIT":    acceptOnly,
			"+CGDCONT":     acceptOnly,
			"+CMMSTERM":    acceptOnly,
			"+CMMSCID":     acceptOnly,
			"+CMMSSENDCFG": acceptOnly,
			"+CMMSCURL":    (*session).cmmscurl,
			"+CMMSPROTO":   (*session).cmmsproto,
			"+CMMSEDIT":    (*session).cmmsedit,
			"+CMMSDOWN":    (*session).cmmsdown,
			"+CMMSRECP":    (*session).cmmsrecp,
			"+CMMSSEND":    (*session).cmmssend,
			"+CMMSRECV":    (*session).cmmsrecv,
			"+CMMSVIEW":    (*session).cmmsview,
			"+CMMSREAD":    (*session).cmmsread,
		}[name]
	}
	return h, h != nil
}

func (s *session) mmsCheck() string {
	if e := s.m.simCheckLocked(false); e != "" {
		return e
	}
	return ""
}

// --- Quectel ---------------------------------------------------------------

func (s *session) qmmscfg(c cmd) reply {
	st := &s.m.mms
	if c.op == "=?" {
		return reply{info: []string{`+QMMSCFG: "contextid",(1-16)`, `+QMMSCFG: "mmsc",<URL>`, `+QMMSCFG: "proxy",<gateway>,(0-65535)`,
			`+QMMSCFG: "character",("ASCII","UTF8","UCS2")`, `+QMMSCFG: "sendparam",(1-6),(0-2),(0,1),(0,1),(0,1),(0-3)`}, final: "OK"}
	}
	p := params(c.args)
	if c.op != "=" || len(p) == 0 {
		return errReply(s.m.cmeLocked(cmeBadParams))
	}
	key := strings.ToLower(p[0])
	switch key {
	case "mmsc":
		if len(p) == 1 {
			return reply{info: []string{fmt.Sprintf(`+QMMSCFG: "mmsc","%s"`, st.mmsc)}, final: "OK"}
		}
		st.mmsc = p[1]
	case "proxy":
		if len(p) == 1 {
			return reply{info: []string{fmt.Sprintf(`+QMMSCFG: "proxy","%s",%d`, st.proxy, st.proxyPort)}, final: "OK"}
		}
		st.proxy = p[1]
		st.proxyPort, _ = intParam(p, 2, 80)
	case "contextid", "character", "sendparam", "supportfield", "connecttimeout":
		if len(p) == 1 {
			return reply{info: []string{fmt.Sprintf(`+QMMSCFG: "%s",1`, key)}, final: "OK"}
		}
	default:
		return errReply(s.m.cmeLocked(cmeBadParams))
	}
	return okReply
}

func (s *session) qfupl(c cmd) reply {
	p := params(c.args)
	if c.op != "=" || len(p) < 2 || !strings.HasPrefix(strings.ToUpper(p[0]), "RAM:") && !strings.HasPrefix(strings.ToUpper(p[0]), "UFS:") {
		return errReply(s.m.cmeLocked(cmeBadParams))
	}
	size, ok := intParam(p, 1, -1)
	if !ok || size <= 0 || size > maxUpload {
		return errReply("+CME ERROR: 423") // Quectel file error: no space
	}
	name := p[0]
	return s.startUpload(size, func(data []byte) reply {
		st := &s.m.mms
		if st.files == nil {
			st.files = map[string][]byte{}
		}
		st.files[strings.ToUpper(name[:4])+name[4:]] = data
		return reply{info: []string{fmt.Sprintf("+QFUPL: %d,%x", len(data), qChecksum(data))}, final: "OK"}
	})
}

// qChecksum is the 16-bit XOR of the data as big-endian words, as Quectel's
// file commands report it.
func qChecksum(b []byte) uint16 {
	var x uint16
	for i := 0; i < len(b); i += 2 {
		w := uint16(b[i]) << 8
		if i+1 < len(b) {
			w |= uint16(b[i+1])
		}
		x ^= w
	}
	return x
}

func (s *session) qfdel(c cmd) reply {
	p := params(c.args)
	if c.op != "=" || len(p) != 1 {
		return errReply(s.m.cmeLocked(cmeBadParams))
	}
	st := &s.m.mms
	for k := range st.files {
		if p[0] == "RAM:*" || strings.EqualFold(k, p[0]) {
			delete(st.files, k)
		}
	}
	return okReply
}

func (s *session) qmmsedit(c cmd) reply {
	st := &s.m.mms
	p := params(c.args)
	if c.op != "=" || len(p) == 0 {
		return errReply(s.m.cmeLocked(cmeBadParams))
	}
	fn, ok := intParam(p, 0, -1)
	if !ok {
		return errReply(s.m.cmeLocked(cmeBadParams))
	}
	if fn == 0 {
		st.to, st.subject, st.attached, st.text = nil, "", nil, ""
		return okReply
	}
	op, _ := intParam(p, 1, 1)
	if len(p) < 3 || op != 1 {
		return errReply(s.m.cmeLocked(cmeBadParams))
	}
	switch fn {
	case 1, 2, 3:
		st.to = append(st.to, p[2])
	case 4:
		st.subject = p[2]
	case 5:
		name := strings.ToUpper(p[2][:min(4, len(p[2]))]) + p[2][min(4, len(p[2])):]
		if _, ok := st.files[name]; !ok {
			return errReply("+CME ERROR: 405") // Quectel: file not found
		}
		st.attached = append(st.attached, name)
	default:
		return errReply(s.m.cmeLocked(cmeBadParams))
	}
	return okReply
}

// Quectel MMS result codes: 0 success; 775 is what a failed submission
// answers in the transcript this follows.
const qmmsFailed = 775

func (s *session) qmmsend(c cmd) reply {
	if e := s.mmsCheck(); e != "" {
		return errReply(e)
	}
	st := &s.m.mms
	if c.op == "=?" {
		return reply{info: []string{"+QMMSEND: (1-65535)"}, final: "OK"}
	}
	if st.busy {
		return errReply("+CME ERROR: 902") // busy
	}
	if st.mmsc == "" || len(st.to) == 0 {
		return errReply(s.m.cmeLocked(cmeNotAllowed))
	}
	var parts []mms.Part
	for _, name := range st.attached {
		parts = append(parts, mms.Part{ContentType: typeOf(name), Name: path.Base(name[4:]), Data: st.files[name]})
	}
	m := s.m
	pdu := s.composeLocked(parts)
	st.busy = true
	return reply{final: "OK", after: func() {
		go m.submitMMS(pdu, func(httpStatus int, conf mms.Message, err error) string {
			switch {
			case err != nil:
				return fmt.Sprintf("+QMMSEND: %d", qmmsFailed)
			case httpStatus != 200:
				return fmt.Sprintf("+QMMSEND: 0,%d", httpStatus)
			case conf.ResponseStatus != mms.StatusOK:
				return fmt.Sprintf("+QMMSEND: %d", qmmsFailed)
			}
			return "+QMMSEND: 0,200"
		})
	}}
}

// composeLocked builds the m-send-req of the message being edited.
func (s *session) composeLocked(files []mms.Part) []byte {
	st := &s.m.mms
	st.sends++
	var text string
	var media []mms.Part
	for _, f := range files {
		if strings.HasPrefix(f.ContentType, "text/plain") {
			text += string(f.Data)
			continue
		}
		media = append(media, f)
	}
	if st.text != "" {
		text = st.text
	}
	msg := mms.Compose(fmt.Sprintf("%s-%d", s.m.cfg.IMEI, st.sends), "", append([]string(nil), st.to...), st.subject, text, media)
	b, _ := mms.Encode(msg)
	return b
}

// submitMMS posts the PDU to the MMSC and queues the URC urc renders.
func (m *Modem) submitMMS(pdu []byte, urc func(int, mms.Message, error) string) {
	m.mu.Lock()
	url, proxy, imei := m.mms.mmsc, m.mms.proxy, m.cfg.IMEI
	m.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	status, conf, err := postMMS(ctx, url, proxy, imei, pdu)
	if err != nil {
		m.log.Info("modemsim: MMS post failed", "err", err)
	}
	m.mu.Lock()
	m.mms.busy = false
	m.mu.Unlock()
	m.addURC(urc(status, conf, err))
}

func typeOf(name string) string {
	ext := strings.ToLower(path.Ext(name))
	switch ext {
	case ".txt":
		return "text/plain"
	case ".smil":
		return "application/smil"
	}
	return mms.DetectType(name, nil)
}

// --- SIMCom ----------------------------------------------------------------

func (s *session) cmmscurl(c cmd) reply {
	st := &s.m.mms
	switch c.op {
	case "?":
		return reply{info: []string{fmt.Sprintf(`+CMMSCURL: "%s"`, st.mmsc)}, final: "OK"}
	case "=":
		p := params(c.args)
		if len(p) != 1 {
			return errReply(s.m.cmeLocked(cmeBadParams))
		}
		st.mmsc = p[0]
		return okReply
	}
	return okReply
}

func (s *session) cmmsproto(c cmd) reply {
	st := &s.m.mms
	switch c.op {
	case "?":
		return reply{info: []string{fmt.Sprintf(`+CMMSPROTO: "%s",%d`, st.proxy, st.proxyPort)}, final: "OK"}
	case "=":
		p := params(c.args)
		if len(p) < 1 {
			return errReply(s.m.cmeLocked(cmeBadParams))
		}
		st.proxy = p[0]
		st.proxyPort, _ = intParam(p, 1, 80)
	}
	return okReply
}

func (s *session) cmmsedit(c cmd) reply {
	st := &s.m.mms
	if c.op == "?" {
		v := 0
		if st.editing {
			v = 1
		}
		return reply{info: []string{"+CMMSEDIT: " + strconv.Itoa(v)}, final: "OK"}
	}
	p := params(c.args)
	if c.op != "=" || len(p) != 1 {
		return errReply(s.m.cmeLocked(cmeBadParams))
	}
	switch p[0] {
	case "1":
		st.editing = true
	case "0":
		// Leaving edit mode clears the message (SIM800 MMS note).
		st.editing = false
		st.to, st.subject, st.text, st.files, st.order, st.attached = nil, "", "", nil, nil, nil
	default:
		return errReply(s.m.cmeLocked(cmeBadParams))
	}
	return okReply
}

func (s *session) cmmsdown(c cmd) reply {
	st := &s.m.mms
	p := params(c.args)
	if c.op != "=" || len(p) < 2 {
		return errReply(s.m.cmeLocked(cmeBadParams))
	}
	if !st.editing {
		return errReply(s.m.cmeLocked(cmeNotAllowed))
	}
	kind := strings.ToUpper(p[0])
	size, ok := intParam(p, 1, -1)
	if !ok || size <= 0 || size > maxUpload {
		return errReply(s.m.cmeLocked(cmeBadParams))
	}
	name := ""
	if len(p) > 3 {
		name = p[3]
	}
	switch kind {
	case "PIC", "FILE", "TEXT", "TITLE":
	default:
		return errReply(s.m.cmeLocked(cmeBadParams))
	}
	return s.startUpload(size, func(data []byte) reply {
		switch kind {
		case "TITLE":
			st.subject = string(data)
		case "TEXT":
			st.text = string(data)
		default:
			if name == "" {
				name = fmt.Sprintf("file%d", len(st.order)+1)
			}
			if st.files == nil {
				st.files = map[string][]byte{}
			}
			st.files[name] = data
			st.order = append(st.order, name)
		}
		return okReply
	})
}

func (s *session) cmmsrecp(c cmd) reply {
	st := &s.m.mms
	p := params(c.args)
	if c.op != "=" || len(p) != 1 || !st.editing {
		return errReply(s.m.cmeLocked(cmeNotAllowed))
	}
	st.to = append(st.to, p[0])
	return okReply
}

// SIMCom MMS error: the send failed (the note lists codes per cause; the
// simulator uses one for "network/MMSC error").
const cmmsFailed = 4

func (s *session) cmmssend(c cmd) reply {
	if e := s.mmsCheck(); e != "" {
		return errReply(e)
	}
	st := &s.m.mms
	if c.op == "=?" {
		return okReply
	}
	if !st.editing || st.mmsc == "" || len(st.to) == 0 || st.busy {
		return errReply(s.m.cmeLocked(cmeNotAllowed))
	}
	var parts []mms.Part
	for _, name := range st.order {
		parts = append(parts, mms.Part{ContentType: typeOf(name), Name: name, Data: st.files[name]})
	}
	pdu := s.composeLocked(parts)
	st.busy = true
	m := s.m
	return reply{final: "OK", after: func() {
		go m.submitMMS(pdu, func(httpStatus int, conf mms.Message, err error) string {
			if err != nil || httpStatus != 200 || conf.ResponseStatus != mms.StatusOK {
				return fmt.Sprintf("+CMMSSEND: %d", cmmsFailed)
			}
			return "+CMMSSEND: 0"
		})
	}}
}

func (s *session) cmmsrecv(c cmd) reply {
	if e := s.mmsCheck(); e != "" {
		return errReply(e)
	}
	st := &s.m.mms
	p := params(c.args)
	if c.op != "=" || len(p) != 1 || !strings.HasPrefix(p[0], "http") {
		return errReply(s.m.cmeLocked(cmeBadParams))
	}
	if st.busy {
		return errReply(s.m.cmeLocked(cmeNotAllowed))
	}
	st.busy = true
	location, m := p[0], s.m
	return reply{final: "OK", after: func() {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			msg, err := getMMS(ctx, location, "")
			m.mu.Lock()
			m.mms.busy = false
			if err == nil {
				m.mms.received = &msg
			}
			m.mu.Unlock()
			if err != nil {
				m.addURC(fmt.Sprintf("+CMMSRECV: %d", cmmsFailed))
				return
			}
			m.addURC("+CMMSRECV: 0")
		}()
	}}
}

// cmmsview lists the fetched message: a header line, then one line per
// file: <index>,"<name>","<content type>",<size>.
func (s *session) cmmsview(c cmd) reply {
	r := s.m.mms.received
	if r == nil {
		return errReply(s.m.cmeLocked(cmeNotAllowed))
	}
	size := 0
	for _, p := range r.Parts {
		size += len(p.Data)
	}
	info := []string{fmt.Sprintf(`+CMMSVIEW: "%s","%s","%s",%d`, r.From, r.Date.Format("2006-01-02,15:04:05"), r.Subject, size)}
	for i, p := range r.Parts {
		info = append(info, fmt.Sprintf(`%d,"%s","%s",%d`, i+1, p.Name, p.ContentType, len(p.Data)))
	}
	return reply{info: info, final: "OK"}
}

// cmmsread writes +CMMSREAD: <index>,<size>, the file's bytes, then OK.
func (s *session) cmmsread(c cmd) reply {
	r := s.m.mms.received
	p := params(c.args)
	i, ok := intParam(p, 0, 0)
	if r == nil || c.op != "=" || !ok || i < 1 || i > len(r.Parts) {
		return errReply(s.m.cmeLocked(cmeInvalidIndex))
	}
	data := r.Parts[i-1].Data
	return reply{raw: fmt.Sprintf("\r\n+CMMSREAD: %d,%d\r\n", i, len(data)) + string(data), final: "OK"}
}

// DeliverMMS makes an MMS from outside arrive for number through the
// network's MMSC (StartMMSC first).
func (n *Network) DeliverMMS(to, from, subject, text string, files []mms.Part) error {
	n.mu.Lock()
	c := n.mmsc
	n.mu.Unlock()
	if c == nil {
		return fmt.Errorf("modemsim: no MMSC: call StartMMSC first")
	}
	msg := mms.Compose("", from, []string{to}, subject, text, files)
	return c.Deliver(to, from, subject, msg.Parts)
}
