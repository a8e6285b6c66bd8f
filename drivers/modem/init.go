package modem

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/warthog618/modem/at"
)

// dialect is what initialisation learnt about the model.
type dialect struct {
	cereg    bool     // AT+CEREG is supported (LTE modems)
	memories []string // AT+CPMS=? first list, e.g. SM ME SR
	storage  string   // memory used for reading, writing and receiving
	csms     bool     // AT+CSMS=1 took: routed messages need AT+CNMA
	// cpms3: AT+CPMS took all three memories; switching the read memory
	// then names all three too (Huawei E3372-325 refuses AT+CPMS="SM").
	cpms3 bool
	// ussdPacked: Huawei sticks take and give USSD strings as hex of
	// packed GSM 7-bit septets.
	ussdPacked bool
	// mode and ds are the <mode> and <ds> of AT+CNMI the modem took; -1
	// before it took any.
	mode, ds int
	// routeReports: delivery reports are asked for routed (+CDS, <ds>=1)
	// before stored (<ds>=2), acknowledged with AT+CNMA (routesReports).
	routeReports bool
}

// routesReports tells whether delivery reports of this modem (AT+CGMI,
// AT+CGMM) are taken routed: AT+CNMI <ds>=1, +CDS: <length><CR><LF><pdu>,
// acknowledged with AT+CNMA once stored (3GPP TS 27.005 §3.4.1, §3.4.4).
// Only where a vendor manual documents it and real logs show +CDS:
// Quectel (EC25&EC21 AT Commands Manual: AT+CNMI <ds> 0-2 and the +CDS
// URC; AT+CNMA for "+CDS for <ds>=1" with AT+CSMS=1, a second AT+CNMA
// answers +CMS ERROR: 340; asterisk-chan-quectel#75 takes EC25/EG25
// reports as +CDS) and SIMCom's SIM800 series (SIM800 Series AT Command
// Manual V1.09: <ds> 0 and 1 only, +CDS: <length><CR><LF><pdu>; the
// SIM800L logs of python-gsmmodem#44 and #60, testdata/replay/
// simcom-sim800l-cds.txt). SIM7600 (whose stored reports in SR work as
// announced), Huawei and unknown modems keep stored reports: no SIM7600
// manual page or log of a routed, acknowledged report was found, and
// Huawei's MU509 manual documents +CDS but no stick's log shows one
// acknowledged.
func routesReports(manufacturer, model string) bool {
	if strings.Contains(manufacturer, "quectel") {
		return true
	}
	return strings.Contains(manufacturer, "simcom") && strings.Contains(strings.ToUpper(model), "SIM800")
}

// Connect opens the port and initialises the modem within InitTimeout. On
// success the modem is online; on failure the port is closed again and the
// state tells why (pin_required, no_sim, …).
func (m *Modem) Connect(ctx context.Context) error {
	if m.isClosed() {
		return ErrClosed
	}
	ctx, cancel := context.WithTimeout(ctx, m.cfg.InitTimeout)
	defer cancel()
	m.setState(StateRegistering)
	c, err := m.dial(ctx)
	if err != nil {
		m.setState(StateOffline)
		return err
	}
	if err := m.setup(ctx, c, 3); err != nil {
		c.close()
		m.setState(stateFor(err))
		return err
	}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		c.close()
		return ErrClosed
	}
	old := m.conn
	m.conn = c
	m.mu.Unlock()
	if old != nil && old != c {
		old.close()
	}
	m.setState(StateOnline)
	m.log.Info("modem ready", "device", c.path, "model", m.Info().Model, "operator", m.Info().Operator)
	return nil
}

func stateFor(err error) State {
	switch {
	case errors.Is(err, ErrWrongPIN), errors.Is(err, ErrPINRequired):
		return StatePINRequired
	case errors.Is(err, ErrPUKLocked):
		return StatePUKLocked
	case errors.Is(err, ErrNoSIM):
		return StateNoSIM
	case errors.Is(err, ErrNotRegistered):
		return StateRegistering
	case errors.Is(err, ErrTimeout):
		return StateHung
	}
	return StateOffline
}

// setup brings a freshly opened (or recovering) modem into pbxgate's
// settings. wakeTries bounds the attempts to get a first answer.
func (m *Modem) setup(ctx context.Context, c *conn, wakeTries int) error {
	c.readMem = "" // set-up selects the memories again
	err := m.setupPort(ctx, c, wakeTries)
	if err == nil {
		m.mu.Lock()
		c.readMem = m.dialect.storage
		m.mu.Unlock()
	}
	return err
}

func (m *Modem) setupPort(ctx context.Context, c *conn, wakeTries int) error {
	m.inSetup.Store(true)
	defer func() {
		m.setupDone.Store(time.Now().UnixNano())
		m.inSetup.Store(false)
	}()
	name := m.cfg.Name
	timeout := m.cfg.CommandTimeout
	run := func(cmd string) ([]string, error) {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("%s: initialisation: %w", name, ErrTimeout)
		}
		return c.cmd(cmd, timeout)
	}

	// Escape a half-finished AT+CMGS and turn echo off. A modem that just
	// booted may miss the first attempts.
	var err error
	for i := 0; i < wakeTries; i++ {
		if err = c.at.Init(at.WithCmds("E0"), at.WithTimeout(timeout)); err == nil || ctx.Err() != nil {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("%s: no answer on %s: %w", name, c.path, commandErr("E0", err))
	}
	if _, err := run("+CMEE=1"); err != nil {
		return fmt.Errorf("%s: enable error codes: %w", name, err)
	}
	if err := m.unlockSIM(ctx, run); err != nil {
		return err
	}
	m.readIdentity(run, c.path)
	if want, got := m.cfg.IMEI, m.Info().IMEI; want != "" && got != want {
		return fmt.Errorf("%s: %w: %s answers with IMEI %q, configured is %s", name, ErrWrongModem, c.path, got, want)
	}

	mf := strings.ToLower(m.Info().Manufacturer)
	d := dialect{ussdPacked: strings.Contains(mf, "huawei"), mode: -1, ds: -1}
	switch {
	case strings.Contains(mf, "quectel"):
		// Some firmware sends URCs (+CMTI…) to the PPP port by default.
		_, _ = run(`+QURCCFG="urcport","usbat"`)
	case strings.Contains(mf, "huawei"):
		// Stop the periodic ^RSSI/^MODE/^HCSQ chatter on the AT port.
		_, _ = run("^CURC=0")
	}
	if _, err := run("+CMGF=0"); err != nil {
		return fmt.Errorf("%s: PDU mode: %w", name, err)
	}
	if err := m.selectStorage(run, &d); err != nil {
		return err
	}
	d.routeReports = m.cfg.DeliveryReports && !m.cfg.StoredReports && routesReports(mf, m.Info().Model)
	if m.cfg.RouteDirect || d.routeReports {
		// Phase 2+ lets us acknowledge routed messages only once stored;
		// without it the modem forgets a +CMT or +CDS as soon as it
		// printed it (27.005 §3.2.1, §3.4.4).
		if _, err := run("+CSMS=1"); err == nil {
			d.csms = true
		}
	}
	if err := m.setIndications(run, &d); err != nil {
		return err
	}
	// GSM character set for USSD strings; long operator names.
	_, _ = run(`+CSCS="GSM"`)
	_, _ = run("+COPS=3,0")
	for i, cmd := range m.cfg.InitCommands {
		if _, err := run(atBody(cmd)); err != nil {
			return fmt.Errorf("%s: init_commands[%d] %s: %w", name, i, cmd, err)
		}
	}
	if _, err := run("+CEREG?"); err == nil {
		d.cereg = true
	}
	m.mu.Lock()
	m.dialect = d
	m.mu.Unlock()
	return m.awaitRegistration(ctx, run, d)
}

type runFunc func(cmd string) ([]string, error)

// unlockSIM answers the SIM's PIN request. The PIN is sent at most once per
// Modem: a rejected PIN is never retried, so pbxgate cannot lock a SIM.
func (m *Modem) unlockSIM(ctx context.Context, run runFunc) error {
	name := m.cfg.Name
	pinSent := false
	for {
		info, err := run("+CPIN?")
		status := ""
		switch code := cmeCode(err); {
		case err == nil:
		case code == 10:
			return fmt.Errorf("%s: %w: insert a SIM card (CME 10)", name, ErrNoSIM)
		case code == 13 || code == 15:
			return fmt.Errorf("%s: %w: the SIM card failed or is not supported (CME %d)", name, ErrNoSIM, code)
		case code == 12 || code == 262:
			return fmt.Errorf("%s: %w (CME %d): unlock it with its PUK in a phone, then restart", name, ErrPUKLocked, code)
		case code == 11:
			status = "SIM PIN"
		case code == 14:
			if err := sleep(ctx, 300*time.Millisecond); err != nil {
				return fmt.Errorf("%s: SIM stays busy: %w", name, ErrTimeout)
			}
			continue
		default:
			return fmt.Errorf("%s: SIM status: %w", name, err)
		}
		if status == "" {
			status = firstAnswer(filterPrefix(info, "+CPIN"))
		}
		switch strings.ToUpper(status) {
		case "READY":
			return nil
		case "SIM PIN":
			m.mu.Lock()
			refused := m.pinRefused
			m.mu.Unlock()
			switch {
			case refused:
				return fmt.Errorf("%s: %w; it was rejected before and is not tried again: fix modems.devices[].pin and restart", name, ErrWrongPIN)
			case m.cfg.PIN == "":
				return fmt.Errorf("%s: %w: set modems.devices[].pin", name, ErrPINRequired)
			case pinSent:
				// Accepted but the SIM still asks: do not send it again.
				return fmt.Errorf("%s: %w: the SIM still asks for a PIN after it was entered", name, ErrPINRequired)
			}
			mf, _ := run("+CGMI") // identity is read after unlocking
			if left, ok := pinTriesLeft(run, firstAnswer(mf)); ok && left < 2 {
				// Someone already used up the other tries: one more wrong
				// PIN would lock the SIM into PUK.
				return fmt.Errorf("%s: %w: the SIM has only %d PIN attempt left; pbxgate will not risk a PUK lock: unlock the SIM in a phone, then restart", name, ErrPINRequired, left)
			}
			pinSent = true
			// The PIN must not appear in logs; commands are not logged.
			if _, err := run(fmt.Sprintf(`+CPIN="%s"`, m.cfg.PIN)); err != nil {
				var ce *CommandError
				var cms *CMSError
				if errors.As(err, &ce) || errors.As(err, &cms) {
					m.mu.Lock()
					m.pinRefused = true
					m.mu.Unlock()
					m.log.Error("SIM rejected the PIN; it will not be tried again", "error", err)
					return fmt.Errorf("%s: %w (%v): fix modems.devices[].pin; pbxgate will not retry it to protect the SIM from a PUK lock", name, ErrWrongPIN, err)
				}
				return fmt.Errorf("%s: entering the PIN: %w", name, err)
			}
		case "SIM PUK":
			return fmt.Errorf("%s: %w: unlock it with its PUK in a phone, then restart", name, ErrPUKLocked)
		default:
			return fmt.Errorf("%s: %w: the SIM asks for %q", name, ErrPINRequired, status)
		}
	}
}

// pinTriesLeft asks the vendor command for the remaining PIN attempts.
func pinTriesLeft(run runFunc, manufacturer string) (int, bool) {
	type query struct {
		cmd, prefix string
		field       int
	}
	var qs []query
	switch mf := strings.ToLower(manufacturer); {
	case strings.Contains(mf, "quectel"):
		qs = []query{{"+QPINC?", "+QPINC", 1}}
	case strings.Contains(mf, "simcom"):
		qs = []query{{"+SPIC", "+SPIC", 0}}
	case strings.Contains(mf, "huawei"):
		qs = []query{{"^CPIN?", "^CPIN", 1}}
	}
	qs = append(qs, query{`+CPINR="SIM PIN"`, "+CPINR", 1})
	for _, q := range qs {
		info, err := run(q.cmd)
		if err != nil {
			continue
		}
		for _, l := range info {
			if !strings.HasPrefix(l, q.prefix+":") {
				continue
			}
			f := fields(strings.TrimSpace(l[len(q.prefix)+1:]))
			if q.prefix == "+QPINC" && (len(f) == 0 || f[0] != "SC") {
				continue // the PIN2 line
			}
			if q.field < len(f) {
				if n, ok := atoi(f[q.field]); ok {
					return n, true
				}
			}
		}
	}
	return 0, false
}

func filterPrefix(info []string, prefix string) []string {
	var out []string
	for _, l := range info {
		if strings.HasPrefix(l, prefix+":") {
			out = append(out, l)
		}
	}
	if out == nil {
		return info
	}
	return out
}

// readIdentity reads manufacturer, model, firmware, IMEI, IMSI, ICCID and
// own number. Missing answers stay empty: identity is informative, except
// the IMEI which discovery binds to.
func (m *Modem) readIdentity(run runFunc, path string) {
	one := func(cmd string) string {
		info, err := run(cmd)
		if err != nil {
			return ""
		}
		return firstAnswer(info)
	}
	var in Info
	in.Manufacturer = one("+CGMI")
	in.Model = one("+CGMM")
	in.Firmware = cleanRevision(one("+CGMR"))
	in.IMEI = one("+CGSN")
	in.IMSI = one("+CIMI")
	for _, c := range iccidCommands(in.Manufacturer) {
		if v := one(c); v != "" {
			in.ICCID = cleanICCID(v, strings.HasPrefix(c, "^"))
			break
		}
	}
	if info, err := run("+CNUM"); err == nil {
		if f := infoFields(info, "+CNUM"); len(f) >= 2 {
			in.Number = f[1]
		}
	}
	in.Device = path
	in.Updated = time.Now()
	m.mu.Lock()
	keep := m.info
	m.info = in
	m.info.Operator, m.info.AccessTech = keep.Operator, keep.AccessTech
	m.info.CSQ, m.info.SignalDBm, m.info.SignalBars, m.info.Registration = keep.CSQ, keep.SignalDBm, keep.SignalBars, keep.Registration
	m.info.StorageUsed, m.info.StorageTotal = keep.StorageUsed, keep.StorageTotal
	m.mu.Unlock()
}

// iccidCommands lists the vendor commands that read the ICCID, best first.
func iccidCommands(manufacturer string) []string {
	switch mf := strings.ToLower(manufacturer); {
	case strings.Contains(mf, "quectel"):
		return []string{"+QCCID", "+CCID"}
	case strings.Contains(mf, "simcom"):
		return []string{"+CICCID", "+CCID"}
	case strings.Contains(mf, "huawei"):
		return []string{"^ICCID?", "+CCID"}
	}
	return []string{"+CCID", "+QCCID", "+CICCID"}
}

// selectStorage picks where messages are stored: the modem's own memory
// ("ME", usually larger) when it has one, else the SIM ("SM").
func (m *Modem) selectStorage(run runFunc, d *dialect) error {
	info, err := run("+CPMS=?")
	if err == nil {
		d.memories = parseMemories(info)
	}
	d.storage = "SM"
	if slices.Contains(d.memories, "ME") {
		d.storage = "ME"
	}
	if _, err := run(fmt.Sprintf(`+CPMS="%s","%s","%s"`, d.storage, d.storage, d.storage)); err != nil {
		// Some SIM-only modems refuse the write memory; keep their default.
		if _, err2 := run(fmt.Sprintf(`+CPMS="%s"`, d.storage)); err2 != nil {
			return fmt.Errorf("%s: select message storage %s: %w", m.cfg.Name, d.storage, err)
		}
		return nil
	}
	d.cpms3 = true
	return nil
}

// setIndications asks for new-message indications: stored (+CMTI/+CDSI)
// by default, routed (+CMT/+CDS) with RouteDirect. Delivery reports are
// asked for with <ds>=2 (stored, +CDSI), else 1 (routed, +CDS), else 0
// (not announced: read by polling, see reportsPolled); routed first where
// AT+CSMS=1 took and routesReports or RouteDirect says so; <mode> 2,
// else 1 (3GPP TS 27.005 §3.4.1). Once the modem took a combination (d.mode,
// d.ds), only that one is set again.
func (m *Modem) setIndications(run runFunc, d *dialect) error {
	mt := 1
	if m.cfg.RouteDirect {
		mt = 2
	}
	dss := []int{0}
	if m.cfg.DeliveryReports {
		dss = []int{2, 1, 0}
		if m.cfg.RouteDirect || (d.routeReports && d.csms) {
			dss = []int{1, 2, 0}
		}
	}
	modes := []int{2, 1}
	if d.ds >= 0 && d.mode >= 0 {
		dss, modes = []int{d.ds}, []int{d.mode}
	}
	var err error
	for _, ds := range dss {
		for _, mode := range modes {
			if _, err = run(fmt.Sprintf("+CNMI=%d,%d,0,%d,0", mode, mt, ds)); err == nil {
				if m.cfg.DeliveryReports && ds != dss[0] && d.ds < 0 {
					m.log.Warn("modem refused the preferred delivery report indication; using a fallback",
						"cnmi_ds", ds, "reports", map[int]string{2: "stored (+CDSI)", 1: "routed (+CDS)", 0: "read by polling"}[ds])
				}
				d.mode, d.ds = mode, ds
				return nil
			}
			if errors.Is(err, ErrTimeout) || errors.Is(err, ErrOffline) {
				return fmt.Errorf("%s: new message indications (AT+CNMI): %w", m.cfg.Name, err)
			}
		}
	}
	return fmt.Errorf("%s: new message indications (AT+CNMI): %w", m.cfg.Name, err)
}

// awaitRegistration polls until the modem is registered (home or roaming).
func (m *Modem) awaitRegistration(ctx context.Context, run runFunc, d dialect) error {
	for {
		stat, err := m.readRegistration(run, d)
		if err != nil && ctx.Err() != nil {
			return fmt.Errorf("%s: %w within %s; check antenna, coverage and that the SIM is active", m.cfg.Name, ErrNotRegistered, m.cfg.InitTimeout)
		}
		if err != nil {
			return fmt.Errorf("%s: registration: %w", m.cfg.Name, err)
		}
		if registered(stat) {
			m.readNetwork(run)
			return nil
		}
		if sleep(ctx, 200*time.Millisecond) != nil {
			return fmt.Errorf("%s: %w within %s (last status: %s); check antenna, coverage and that the SIM is active",
				m.cfg.Name, ErrNotRegistered, m.cfg.InitTimeout, registrationName(stat))
		}
	}
}

// readRegistration reads CREG and, on LTE modems, CEREG; registered on
// either counts (an LTE-only SIM never registers on CREG).
func (m *Modem) readRegistration(run runFunc, d dialect) (int, error) {
	best := 4
	cmds := []string{"+CREG?"}
	if d.cereg {
		cmds = append(cmds, "+CEREG?")
	}
	for _, cmd := range cmds {
		info, err := run(cmd)
		if err != nil {
			if errors.Is(err, ErrTimeout) || errors.Is(err, ErrOffline) {
				return 0, err
			}
			continue
		}
		if stat, ok := parseRegistration(infoFields(info, cmdID(cmd))); ok {
			if registered(stat) || best == 4 || stat == 3 {
				best = stat
			}
			if registered(stat) {
				break
			}
		}
	}
	m.mu.Lock()
	m.info.Registration = registrationName(best)
	m.mu.Unlock()
	return best, nil
}

// readNetwork reads signal and operator.
func (m *Modem) readNetwork(run runFunc) {
	var csq, act = 99, -1
	var op string
	if info, err := run("+CSQ"); err == nil {
		if f := infoFields(info, "+CSQ"); len(f) > 0 {
			if v, ok := atoi(f[0]); ok {
				csq = v
			}
		}
	}
	if info, err := run("+COPS?"); err == nil {
		if f := infoFields(info, "+COPS"); len(f) >= 3 {
			op = f[2]
			if len(f) >= 4 {
				if v, ok := atoi(f[3]); ok {
					act = v
				}
			}
		}
	}
	dbm, bars := signal(csq)
	used, total := -1, -1
	if info, err := run("+CPMS?"); err == nil {
		// +CPMS: <mem1>,<used1>,<total1>[,<mem2>,…[,<mem3>,<used3>,<total3>]]
		// (27.005 §3.2.2): the figures of the last memory given, the one
		// new messages are stored in (<mem3>); the read memory <mem1> may
		// be another one while reports are read from SR.
		if f := infoFields(info, "+CPMS"); len(f) >= 3 {
			k := (len(f)/3 - 1) * 3
			used, _ = atoi(f[k+1])
			total, _ = atoi(f[k+2])
		}
	}
	m.mu.Lock()
	if total >= 0 {
		m.info.StorageUsed, m.info.StorageTotal = used, total
		nearly := total > 0 && used*10 >= total*9
		if nearly && !m.info.StorageNearlyFull {
			m.log.Warn("message storage nearly full; once full, the network holds new messages back", "used", used, "total", total)
		}
		m.info.StorageNearlyFull = nearly
	}
	m.info.CSQ, m.info.SignalDBm, m.info.SignalBars = csq, dbm, bars
	m.info.Operator, m.info.AccessTech = op, accessTech(act)
	m.info.Updated = time.Now()
	m.mu.Unlock()
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// atBody strips the "AT" of a configured command line: the at engine adds it.
func atBody(cmd string) string {
	cmd = strings.TrimSpace(cmd)
	if len(cmd) >= 2 && strings.EqualFold(cmd[:2], "AT") {
		return cmd[2:]
	}
	return cmd
}
