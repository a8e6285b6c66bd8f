package modem

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pbxgate/pbxgate/gateway/mms"
	"github.com/warthog618/sms/encoding/tpdu"
)

// MMS through the modem's own MMS stack (docs/mms.md):
//   - Quectel (EC25/EG25…): AT+QMMSCFG, AT+QFUPL, AT+QMMSEDIT, AT+QMMSEND
//     per Quectel's "LTE Standard MMS Application Note" V1.1, which
//     describes sending only: inbound MMS are reported as notifications
//     that this modem cannot fetch.
//   - SIMCom (SIM7600, SIM800…): AT+CMMSCURL, AT+CMMSPROTO, AT+CMMSEDIT,
//     AT+CMMSDOWN, AT+CMMSRECP, AT+CMMSSEND; inbound with AT+CMMSRECV,
//     AT+CMMSVIEW and AT+CMMSREAD.
//   - Others (Huawei sticks…): no MMS.

// MMSSupport says what a modem can do with MMS.
type MMSSupport struct {
	Dialect string `json:"dialect,omitempty"` // "quectel", "simcom" or ""
	Send    bool   `json:"send"`
	Receive bool   `json:"receive"`
	// Reason explains a missing capability (English; the portal translates
	// by Dialect and the flags).
	Reason string `json:"reason,omitempty"`
}

// MMSSettings are a SIM's MMS settings (a carrier preset or edited).
type MMSSettings struct {
	APN       string
	MMSC      string // URL, e.g. http://mms.t-mobile.de/servlets/mms
	Proxy     string // host or IP, "" for none
	ProxyPort int
	// MaxSize is the carrier's size limit for one MMS in bytes.
	MaxSize int
}

// MMSResult tells how an MMS went out.
type MMSResult struct {
	Dialect string    `json:"dialect"`
	Result  string    `json:"result"` // the modem's final URC, e.g. "+QMMSEND: 0,200"
	At      time.Time `json:"at"`
}

// InboundMMS is an MMS the network announced. Retrieved tells whether the
// content is here; if not, Reason says why.
type InboundMMS struct {
	From        string
	Subject     string
	Location    string // X-Mms-Content-Location
	Size        int    // announced size
	Retrieved   bool
	Reason      string
	Text        string
	Media       []mms.Part
	AnnouncedAt time.Time
}

// Errors of MMS.
var (
	ErrNoMMS         = errors.New("this modem cannot send MMS")
	ErrMMSNotSet     = errors.New("no MMS settings (MMSC URL) for this SIM")
	ErrMMSCRejected  = errors.New("the carrier's MMSC refused the MMS")
	ErrMMSNoResult   = errors.New("the modem gave no MMS send result in time")
	errMMSFetchAfter = errors.New("MMS not fetched")
)

type mmsState struct {
	urc chan string

	mu       sync.Mutex
	support  *MMSSupport
	settings MMSSettings
	done     bool         // settings written to the modem
	written  atomic.Int64 // when (UnixNano)
}

func (m *Modem) mmsIndication(lines []string) {
	if len(lines) == 0 {
		return
	}
	select {
	case m.mms.urc <- lines[0]:
	default:
	}
}

// dialectOf picks the MMS command set by manufacturer.
func dialectOf(manufacturer string) string {
	mf := strings.ToLower(manufacturer)
	switch {
	case strings.Contains(mf, "quectel"):
		return "quectel"
	case strings.Contains(mf, "simcom"):
		return "simcom"
	}
	return ""
}

// MMSCapability probes the modem once (the test form of its MMS command)
// and tells what it can do; later calls return the first answer.
func (m *Modem) MMSCapability(ctx context.Context) (MMSSupport, error) {
	m.mms.mu.Lock()
	if s := m.mms.support; s != nil {
		m.mms.mu.Unlock()
		return *s, nil
	}
	m.mms.mu.Unlock()
	c, err := m.ready()
	if err != nil {
		return MMSSupport{}, err
	}
	info := m.Info()
	s := MMSSupport{Dialect: dialectOf(info.Manufacturer)}
	probe := map[string]string{"quectel": "+QMMSCFG=?", "simcom": "+CMMSEDIT?"}[s.Dialect]
	if probe == "" {
		s.Reason = fmt.Sprintf("%s %s has no MMS commands", info.Manufacturer, info.Model)
	} else {
		m.opMu.Lock()
		_, err := m.command(c, probe)
		m.opMu.Unlock()
		switch {
		case errors.Is(err, ErrTimeout) || errors.Is(err, ErrOffline):
			return MMSSupport{}, err
		case err != nil:
			s.Dialect = ""
			s.Reason = fmt.Sprintf("the firmware of this %s answers AT%s with an error: no MMS", info.Model, probe)
		case s.Dialect == "quectel":
			s.Send = true
			s.Reason = "Quectel's MMS commands send only; received MMS are shown as notifications"
		default:
			s.Send, s.Receive = true, true
		}
	}
	m.mms.mu.Lock()
	m.mms.support = &s
	m.mms.mu.Unlock()
	return s, nil
}

// SetMMSSettings sets the SIM's MMS settings; they are written to the
// modem before the next MMS.
func (m *Modem) SetMMSSettings(s MMSSettings) {
	m.mms.mu.Lock()
	m.mms.settings, m.mms.done = s, false
	m.mms.mu.Unlock()
}

// MMSSettings returns the settings in use.
func (m *Modem) MMSSettings() MMSSettings {
	m.mms.mu.Lock()
	defer m.mms.mu.Unlock()
	return m.mms.settings
}

func (m *Modem) configureMMS(c *conn, dialect string) error {
	m.mms.mu.Lock()
	s, done := m.mms.settings, m.mms.done
	m.mms.mu.Unlock()
	if s.MMSC == "" {
		return ErrMMSNotSet
	}
	// Settings live in the modem's RAM: write them again after every
	// initialisation (a reset clears them).
	if done && m.setupDone.Load() < m.mms.written.Load() {
		return nil
	}
	var cmds []string
	switch dialect {
	case "quectel":
		if s.APN != "" {
			cmds = append(cmds, fmt.Sprintf(`+QICSGP=1,1,"%s","","",1`, s.APN))
		}
		cmds = append(cmds, `+QMMSCFG="contextid",1`, fmt.Sprintf(`+QMMSCFG="mmsc","%s"`, s.MMSC))
		if s.Proxy != "" {
			cmds = append(cmds, fmt.Sprintf(`+QMMSCFG="proxy","%s",%d`, s.Proxy, portOr80(s.ProxyPort)))
		}
		cmds = append(cmds, `+QMMSCFG="character","UTF8"`)
	case "simcom":
		if s.APN != "" {
			cmds = append(cmds, fmt.Sprintf(`+CGDCONT=1,"IP","%s"`, s.APN))
		}
		cmds = append(cmds, fmt.Sprintf(`+CMMSCURL="%s"`, s.MMSC))
		if s.Proxy != "" {
			cmds = append(cmds, fmt.Sprintf(`+CMMSPROTO="%s",%d`, s.Proxy, portOr80(s.ProxyPort)))
		}
	}
	for _, cmd := range cmds {
		if _, err := m.command(c, cmd); err != nil {
			return fmt.Errorf("%s: MMS settings: %w", m.cfg.Name, err)
		}
	}
	m.mms.mu.Lock()
	m.mms.done = true
	m.mms.mu.Unlock()
	m.mms.written.Store(time.Now().UnixNano())
	return nil
}

func portOr80(p int) int {
	if p <= 0 {
		return 80
	}
	return p
}

// SendMMS sends one MMS: text (may be empty), subject (may be empty) and
// one file already fitted to the carrier's limit (mms.Fit).
func (m *Modem) SendMMS(ctx context.Context, to, subject, text string, file mms.Fitted) (MMSResult, error) {
	sup, err := m.MMSCapability(ctx)
	if err != nil {
		return MMSResult{}, err
	}
	if !sup.Send {
		return MMSResult{}, fmt.Errorf("%s: %w: %s", m.cfg.Name, ErrNoMMS, sup.Reason)
	}
	if max := m.MMSSettings().MaxSize; max > 0 && len(file.Data)+len(text) > max {
		return MMSResult{}, fmt.Errorf("%s: %d bytes over the carrier's %d: %w", m.cfg.Name, len(file.Data)+len(text), max, mms.ErrCannotFit)
	}
	c, err := m.ready()
	if err != nil {
		return MMSResult{}, err
	}
	m.opMu.Lock()
	defer m.opMu.Unlock()
	if err := m.configureMMS(c, sup.Dialect); err != nil {
		return MMSResult{}, err
	}
	// Drop a result left from an earlier send that timed out.
	select {
	case <-m.mms.urc:
	default:
	}
	upTimeout := m.cfg.CommandTimeout + time.Duration(len(file.Data)/2000)*time.Millisecond
	name := safeName(file.Name, file.ContentType)
	var prefix string
	switch sup.Dialect {
	case "quectel":
		prefix = "+QMMSEND:"
		_, _ = m.command(c, "+QMMSEDIT=0")
		_, _ = m.command(c, `+QFDEL="RAM:*"`)
		if _, err := m.upload(c, fmt.Sprintf(`+QFUPL="RAM:%s",%d,%d`, name, len(file.Data), int(upTimeout/time.Second)+1), file.Data, upTimeout); err != nil {
			return MMSResult{}, fmt.Errorf("%s: upload %s: %w", m.cfg.Name, name, err)
		}
		steps := []string{fmt.Sprintf(`+QMMSEDIT=1,1,"%s"`, to)}
		if subject != "" {
			steps = append(steps, fmt.Sprintf(`+QMMSEDIT=4,1,"%s"`, quoteSafe(subject)))
		}
		if text != "" {
			if _, err := m.upload(c, fmt.Sprintf(`+QFUPL="RAM:text.txt",%d,10`, len(text)), []byte(text), m.cfg.CommandTimeout); err != nil {
				return MMSResult{}, fmt.Errorf("%s: upload text: %w", m.cfg.Name, err)
			}
			steps = append(steps, `+QMMSEDIT=5,1,"RAM:text.txt"`)
		}
		steps = append(steps, fmt.Sprintf(`+QMMSEDIT=5,1,"RAM:%s"`, name))
		for _, s := range steps {
			if _, err := m.command(c, s); err != nil {
				return MMSResult{}, fmt.Errorf("%s: %w", m.cfg.Name, err)
			}
		}
		if _, err := m.command(c, fmt.Sprintf("+QMMSEND=%d", int(m.cfg.SendTimeout/time.Second))); err != nil {
			return MMSResult{}, fmt.Errorf("%s: %w", m.cfg.Name, err)
		}
	case "simcom":
		prefix = "+CMMSSEND:"
		_, _ = m.command(c, "+CMMSEDIT=0")
		if _, err := m.command(c, "+CMMSEDIT=1"); err != nil {
			return MMSResult{}, fmt.Errorf("%s: %w", m.cfg.Name, err)
		}
		defer func() { _, _ = m.command(c, "+CMMSEDIT=0") }()
		kind := "FILE"
		if strings.HasPrefix(file.ContentType, "image/") {
			kind = "PIC"
		}
		if _, err := m.upload(c, fmt.Sprintf(`+CMMSDOWN="%s",%d,%d,"%s"`, kind, len(file.Data), upTimeout.Milliseconds(), name), file.Data, upTimeout); err != nil {
			return MMSResult{}, fmt.Errorf("%s: upload %s: %w", m.cfg.Name, name, err)
		}
		if text != "" {
			if _, err := m.upload(c, fmt.Sprintf(`+CMMSDOWN="TEXT",%d,10000`, len(text)), []byte(text), m.cfg.CommandTimeout); err != nil {
				return MMSResult{}, fmt.Errorf("%s: upload text: %w", m.cfg.Name, err)
			}
		}
		if subject != "" {
			if _, err := m.upload(c, fmt.Sprintf(`+CMMSDOWN="TITLE",%d,10000`, len(subject)), []byte(subject), m.cfg.CommandTimeout); err != nil {
				return MMSResult{}, fmt.Errorf("%s: upload title: %w", m.cfg.Name, err)
			}
		}
		if _, err := m.command(c, fmt.Sprintf(`+CMMSRECP="%s"`, to)); err != nil {
			return MMSResult{}, fmt.Errorf("%s: %w", m.cfg.Name, err)
		}
		if _, err := m.command(c, "+CMMSSEND"); err != nil {
			return MMSResult{}, fmt.Errorf("%s: %w", m.cfg.Name, err)
		}
	}
	line, err := m.awaitMMSURC(ctx, prefix, m.cfg.SendTimeout)
	if err != nil {
		return MMSResult{}, err
	}
	res := MMSResult{Dialect: sup.Dialect, Result: line, At: time.Now()}
	f := fields(strings.TrimSpace(strings.TrimPrefix(line, prefix)))
	ok := len(f) > 0 && f[0] == "0"
	if sup.Dialect == "quectel" && (len(f) < 2 || f[1] != "200") {
		ok = false
	}
	if !ok {
		return res, fmt.Errorf("%s: %w (%s)", m.cfg.Name, ErrMMSCRejected, line)
	}
	return res, nil
}

func (m *Modem) awaitMMSURC(ctx context.Context, prefix string, timeout time.Duration) (string, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		select {
		case l := <-m.mms.urc:
			if strings.HasPrefix(l, prefix) {
				return l, nil
			}
		case <-t.C:
			return "", fmt.Errorf("%s: %w (waited %s for %s)", m.cfg.Name, ErrMMSNoResult, timeout, prefix)
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
}

// safeName makes a file name the modem's file system and the AT command
// line take: letters, digits, dot, dash, underscore; the extension kept.
func safeName(name, contentType string) string {
	base := path.Base(name)
	var b strings.Builder
	for _, r := range base {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '-', r == '_':
			b.WriteRune(r)
		}
	}
	s := b.String()
	if s == "" || s[0] == '.' {
		s = "file" + s
	}
	if len(s) > 40 {
		s = s[len(s)-40:]
	}
	if path.Ext(s) == "" {
		for ext, t := range map[string]string{".jpg": "image/jpeg", ".png": "image/png", ".gif": "image/gif", ".pdf": "application/pdf", ".vcf": "text/vcard"} {
			if t == contentType {
				s += ext
			}
		}
	}
	return s
}

// quoteSafe drops the double quotes an AT string parameter cannot carry.
func quoteSafe(s string) string { return strings.ReplaceAll(s, `"`, "'") }

// wapPush recognises an SMS carrying a WAP push to port 2948 and decodes
// the MMS notification in it.
func wapPush(raw []byte) (mms.Message, bool) {
	var t tpdu.TPDU
	if err := t.UnmarshalBinary(raw); err != nil || len(t.UDH) == 0 {
		return mms.Message{}, false
	}
	var ies []mms.UDHElement
	for _, ie := range t.UDH {
		ies = append(ies, mms.UDHElement{ID: ie.ID, Data: ie.Data})
	}
	if mms.PushPortOf(ies) != mms.PushPort {
		return mms.Message{}, false
	}
	n, err := mms.DecodePush(t.UD)
	if err != nil {
		return mms.Message{}, false
	}
	n.From = firstNonEmpty(n.From, t.OA.Number())
	return n, true
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// mmsArrived fetches an announced MMS where the modem can and hands it to
// the MMS handler; where it cannot, the notification alone.
func (m *Modem) mmsArrived(ctx context.Context, n mms.Message) error {
	in := InboundMMS{From: n.From, Subject: n.Subject, Location: n.ContentLocation, Size: n.MessageSize, AnnouncedAt: time.Now()}
	sup, err := m.MMSCapability(ctx)
	switch {
	case err != nil:
		in.Reason = "modem not ready to fetch the MMS: " + err.Error()
	case !sup.Receive:
		in.Reason = "MMS received, not retrievable with this modem"
		if sup.Dialect == "quectel" {
			in.Reason += " (Quectel's MMS commands send only)"
		}
	default:
		if err := m.fetchMMS(ctx, &in); err != nil {
			in.Reason = err.Error()
		}
	}
	return m.h.MMS(ctx, m.cfg.Name, in)
}

// fetchMMS retrieves with AT+CMMSRECV, lists with AT+CMMSVIEW and reads
// each file with AT+CMMSREAD (SIMCom).
func (m *Modem) fetchMMS(ctx context.Context, in *InboundMMS) error {
	c, err := m.ready()
	if err != nil {
		return err
	}
	m.opMu.Lock()
	defer m.opMu.Unlock()
	if err := m.configureMMS(c, "simcom"); err != nil {
		return err
	}
	select {
	case <-m.mms.urc:
	default:
	}
	_, _ = m.command(c, "+CMMSEDIT=0")
	if _, err := m.command(c, fmt.Sprintf(`+CMMSRECV="%s"`, in.Location)); err != nil {
		return fmt.Errorf("%w: %w", errMMSFetchAfter, err)
	}
	line, err := m.awaitMMSURC(ctx, "+CMMSRECV:", m.cfg.SendTimeout)
	if err != nil {
		return err
	}
	if f := fields(strings.TrimSpace(strings.TrimPrefix(line, "+CMMSRECV:"))); len(f) == 0 || f[0] != "0" {
		return fmt.Errorf("%w: the modem answered %s", errMMSFetchAfter, line)
	}
	info, err := m.command(c, "+CMMSVIEW")
	if err != nil {
		return fmt.Errorf("%w: %w", errMMSFetchAfter, err)
	}
	for _, l := range info {
		if strings.HasPrefix(l, "+CMMSVIEW:") {
			continue
		}
		f := fields(l)
		if len(f) < 4 {
			continue
		}
		idx, ok := atoi(f[0])
		if !ok {
			continue
		}
		data, err := m.readRaw(c, "+CMMSREAD="+strconv.Itoa(idx), "+CMMSREAD:", m.cfg.SendTimeout)
		if err != nil {
			return fmt.Errorf("%w: file %d: %w", errMMSFetchAfter, idx, err)
		}
		p := mms.Part{Name: f[1], ContentType: f[2], Data: data}
		switch {
		case p.ContentType == "application/smil":
		case strings.HasPrefix(p.ContentType, "text/plain"):
			in.Text = strings.TrimSpace(in.Text + "\n" + string(data))
		default:
			in.Media = append(in.Media, p)
		}
	}
	in.Retrieved = true
	return nil
}
