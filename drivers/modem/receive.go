package modem

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/pbxgate/pbxgate/gateway/sms"
)

// errEmptySlot: a storage index holds no message (already read and deleted).
var errEmptySlot = errors.New("no message at this index")

// errNoHandler keeps messages on the modem while nobody can store them.
var errNoHandler = errors.New("no PDU handler: message left on the modem")

// processEvents handles queued indications in arrival order of the queue.
func (m *Modem) processEvents(ctx context.Context) {
	items := m.events.take()
	defer m.events.done(items)
	for _, lines := range items {
		if ctx.Err() != nil {
			return
		}
		m.processEvent(ctx, lines)
	}
}

func (m *Modem) processEvent(ctx context.Context, lines []string) {
	head := lines[0]
	switch {
	case head == restartEvent && len(lines) > 1:
		m.restarted(ctx, lines[1])
	case head == consoleEvent:
		if c, err := m.current(); err == nil && !m.inSetup.Load() {
			if st := m.State(); st != StateHung && st != StateResetting {
				m.reinit(ctx, c)
			}
		}
	case strings.HasPrefix(head, "+CMTI:"), strings.HasPrefix(head, "+CDSI:"):
		f := fields(strings.TrimSpace(head[6:]))
		if len(f) < 2 {
			m.log.Warn("malformed indication", "line", head)
			return
		}
		idx, ok := atoi(f[1])
		if !ok {
			m.log.Warn("malformed indication", "line", head)
			return
		}
		if m.holding() {
			return // stays in storage; read once the hold ends
		}
		if strings.HasPrefix(head, "+CMTI:") {
			m.noteMemory(f[0])
			if _, err := m.readStored(ctx, f[0], idx); err != nil && !errors.Is(err, errEmptySlot) {
				m.log.Warn("new message not read yet; the next drain retries", "memory", f[0], "index", idx, "error", err)
			}
			return
		}
		m.readStatusReport(ctx, f[0], idx)
	case strings.HasPrefix(head, "+CMT:"), strings.HasPrefix(head, "+CDS:"):
		if len(lines) < 2 {
			return
		}
		if m.holding() {
			// Refused: the network delivers it again later.
			m.acknowledge(false)
			return
		}
		if err := m.dispatch(ctx, lines[1]); err != nil {
			// Refused: the network delivers it again later.
			m.log.Warn("routed message not stored; refusing it", "error", err)
			m.acknowledge(false)
			return
		}
		m.acknowledge(true)
	}
}

// acknowledge answers a routed message (+CMT/+CDS) where AT+CSMS=1 took
// (3GPP TS 27.005 §3.4.4): AT+CNMA (RP-ACK) once it is stored, AT+CNMA=2
// (RP-ERROR, PDU mode) when it could not be: the network keeps it and
// delivers it again later. Until then the modem routes no further +CMT or
// +CDS, and one left unanswered past the network's timeout is refused by
// the modem itself, which also switches routing off (<mt> and <ds> of
// AT+CNMI become 0). An answer the modem did not take (+CMS ERROR: 340,
// no acknowledgement expected: it timed out) sets AT+CNMI again at once;
// every poll does so too.
func (m *Modem) acknowledge(stored bool) {
	m.mu.Lock()
	d := m.dialect
	m.mu.Unlock()
	if !d.csms {
		return
	}
	c, err := m.current()
	if err != nil {
		return
	}
	cmd := "+CNMA"
	if !stored {
		cmd = "+CNMA=2"
	}
	m.opMu.Lock()
	defer m.opMu.Unlock()
	_, err = m.command(c, cmd)
	if err == nil {
		return
	}
	if stored {
		m.log.Warn("acknowledging a routed message failed; the network may deliver it again", "error", err)
	} else {
		m.log.Warn("refusing a routed message failed", "error", err)
	}
	if errors.Is(err, ErrTimeout) || errors.Is(err, ErrOffline) {
		return // recovery initialises the modem again
	}
	run := func(cmd string) ([]string, error) { return m.command(c, cmd) }
	if err := m.setIndications(run, &d); err != nil {
		m.log.Warn("re-enabling new message indications failed", "error", err)
	}
}

// readStatusReport reads a report announced by +CDSI, in the memory the
// indication names even when AT+CPMS=? does not list it (drains visit that
// memory from then on). Quectel EC25 stores reports in "SR" but announces
// them as "SM": when the announced slot holds no report, the same index in
// SR is read too. A real message found in the announced slot is processed
// like any other. A report that cannot be read now is left to polling.
func (m *Modem) readStatusReport(ctx context.Context, mem string, idx int) {
	m.noteMemory(mem)
	if strings.EqualFold(mem, "SM") && m.reportsInSR.Load() {
		// Learnt from an earlier report of this modem: try SR first, the
		// announced slot only when SR holds nothing there.
		report, err := m.readStored(ctx, "SR", idx)
		if err == nil && report {
			return
		}
		if err != nil && !errors.Is(err, errEmptySlot) && cmsCode(err) != 321 {
			m.pollReports(fmt.Sprintf("status report SR/%d not read: %v", idx, err))
			return
		}
		if _, err := m.readStored(ctx, mem, idx); err != nil && !errors.Is(err, errEmptySlot) && cmsCode(err) != 321 {
			m.pollReports(fmt.Sprintf("status report %s/%d not read: %v", mem, idx, err))
		}
		return
	}
	report, err := m.readStored(ctx, mem, idx)
	if err != nil && !errors.Is(err, errEmptySlot) && cmsCode(err) != 321 {
		m.pollReports(fmt.Sprintf("status report %s/%d not read: %v", mem, idx, err))
		return
	}
	if report || strings.EqualFold(mem, "SR") {
		return
	}
	report, err = m.readStored(ctx, "SR", idx)
	if err != nil && !errors.Is(err, errEmptySlot) && cmsCode(err) != 321 {
		m.mu.Lock()
		hasSR := slices.Contains(m.dialect.memories, "SR") || m.announced["SR"]
		m.mu.Unlock()
		if hasSR {
			m.pollReports(fmt.Sprintf("status report SR/%d not read: %v", idx, err))
		}
		return
	}
	if err == nil && report && strings.EqualFold(mem, "SM") {
		m.reportsInSR.Store(true)
	}
}

// noteMemory remembers a memory an indication named, so drains visit it.
func (m *Modem) noteMemory(mem string) {
	mem = strings.ToUpper(strings.TrimSpace(mem))
	if mem == "" {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.announced == nil {
		m.announced = map[string]bool{}
	}
	m.announced[mem] = true
}

// pollReports makes every poll drain storage from now on: the modem holds
// reports that are not (or could not be) read when announced.
func (m *Modem) pollReports(why string) {
	if !m.reportPoll.Swap(true) {
		m.log.Warn("delivery reports are read by polling from now on (every poll_interval)", "reason", why)
	}
}

// reportsPolled reports whether polls drain storage for delivery reports.
func (m *Modem) reportsPolled() bool {
	if !m.cfg.DeliveryReports {
		return false
	}
	m.mu.Lock()
	ds := m.dialect.ds
	m.mu.Unlock()
	return ds == 0 || m.reportPoll.Load()
}

// withMemory runs f with mem selected for reading and deleting. The
// selection is left in place afterwards (the write and receive memories
// stay the default), so a run of reports read from SR costs no AT+CPMS
// each. The storage figures (AT+CPMS?) are read for the receive memory,
// the console selects the default again first. The caller holds opMu.
func (m *Modem) withMemory(c *conn, mem string, f func() error) error {
	m.mu.Lock()
	def, three := m.dialect.storage, m.dialect.cpms3
	m.mu.Unlock()
	mem = strings.ToUpper(mem)
	if mem == "" {
		mem = def
	}
	if mem != c.readMem {
		if err := m.selectRead(c, mem, def, three); err != nil {
			c.readMem = ""
			if mem != def {
				return fmt.Errorf("select memory %s: %w", mem, err)
			}
			// Set-up selected the default: read it as before.
			return f()
		}
		c.readMem = mem
	}
	return f()
}

// selectRead makes mem the read (and delete) memory, keeping def for
// writing and receiving: AT+CPMS="mem","def","def" where the modem took
// three memories at set-up (some take nothing less), else AT+CPMS="mem".
func (m *Modem) selectRead(c *conn, mem, def string, three bool) error {
	if three {
		_, err := m.command(c, fmt.Sprintf(`+CPMS="%s","%s","%s"`, mem, def, def))
		if err == nil || errors.Is(err, ErrTimeout) || errors.Is(err, ErrOffline) {
			return err
		}
	}
	_, err := m.command(c, fmt.Sprintf(`+CPMS="%s"`, mem))
	return err
}

// readStored reads the message at mem/idx, hands it over and deletes it once
// the handler stored it. report tells whether it was a status report.
func (m *Modem) readStored(ctx context.Context, mem string, idx int) (report bool, err error) {
	c, err := m.current()
	if err != nil {
		return false, err
	}
	var info []string
	m.opMu.Lock()
	err = m.withMemory(c, mem, func() error {
		var err error
		info, err = m.command(c, fmt.Sprintf("+CMGR=%d", idx))
		return err
	})
	m.opMu.Unlock()
	if err != nil {
		return false, err
	}
	pdu := ""
	for i, l := range info {
		if strings.HasPrefix(l, "+CMGR:") && i+1 < len(info) {
			pdu = info[i+1]
			break
		}
	}
	if pdu == "" {
		return false, errEmptySlot
	}
	report = isReportHex(pdu)
	if err := m.dispatch(ctx, pdu); err != nil {
		return report, err
	}
	return report, m.deleteStored(c, mem, idx)
}

func (m *Modem) deleteStored(c *conn, mem string, idx int) error {
	m.opMu.Lock()
	defer m.opMu.Unlock()
	err := m.withMemory(c, mem, func() error {
		_, err := m.command(c, fmt.Sprintf("+CMGD=%d", idx))
		return err
	})
	if err != nil {
		m.log.Warn("stored message handled but not deleted; it may be handed over again", "memory", mem, "index", idx, "error", err)
	}
	return err
}

// isReportHex tells from a PDU line (with SMSC) whether it is a status report.
func isReportHex(line string) bool {
	raw, err := hex.DecodeString(strings.TrimSpace(line))
	if err != nil {
		return false
	}
	_, t, err := sms.SplitSMSC(raw)
	return err == nil && sms.IsStatusReport(t)
}

// dispatch hands one received PDU line (hex, with SMSC address) to the
// handlers. nil means it is stored and may be deleted or acknowledged.
func (m *Modem) dispatch(ctx context.Context, line string) error {
	raw, err := hex.DecodeString(strings.TrimSpace(line))
	if err != nil {
		return fmt.Errorf("PDU is not hex: %w", err)
	}
	_, t, err := sms.SplitSMSC(raw)
	if err != nil {
		return err
	}
	if sms.IsStatusReport(t) {
		sr, err := sms.DecodeStatusReport(t)
		if err != nil {
			// Nothing in it can be matched to a message: drop it.
			m.log.Warn("undecodable status report dropped", "error", err)
			return nil
		}
		if m.h.StatusReport == nil {
			return nil
		}
		return m.h.StatusReport(ctx, m.cfg.Name, sr)
	}
	if m.h.MMS != nil {
		if n, ok := wapPush(t); ok {
			return m.mmsArrived(ctx, n)
		}
	}
	if m.h.PDU == nil {
		return errNoHandler
	}
	return m.h.PDU(ctx, m.cfg.Name, t)
}

// storedMessage is one entry of AT+CMGL.
type storedMessage struct {
	index, stat int
	pdu         string
}

// parseCMGL pairs "+CMGL: <index>,<stat>,[<alpha>],<length>" headers with
// the PDU line that follows each.
func parseCMGL(info []string) []storedMessage {
	var out []storedMessage
	for i := 0; i < len(info); i++ {
		if !strings.HasPrefix(info[i], "+CMGL:") || i+1 >= len(info) {
			continue
		}
		f := fields(strings.TrimSpace(info[i][6:]))
		idx, ok1 := 0, false
		stat := 0
		if len(f) >= 2 {
			idx, ok1 = atoi(f[0])
			stat, _ = atoi(f[1])
		}
		if ok1 && !strings.HasPrefix(info[i+1], "+CMGL:") {
			out = append(out, storedMessage{index: idx, stat: stat, pdu: info[i+1]})
			i++
		}
	}
	return out
}

// drain reads every received message and report left in any memory (e.g.
// stored while pbxgate was down, or whose indication was missed), hands
// them over and deletes those stored. Sent or unsent drafts (stat 2, 3)
// are not ours and stay.
func (m *Modem) drain(ctx context.Context) {
	if m.holding() {
		return
	}
	c, err := m.current()
	if err != nil {
		return
	}
	m.mu.Lock()
	mems := []string{m.dialect.storage}
	for _, x := range m.dialect.memories {
		if (x == "SM" || x == "ME" || x == "SR") && !slices.Contains(mems, x) {
			mems = append(mems, x)
		}
	}
	for x := range m.announced {
		// named by an indication although AT+CPMS=? did not list it
		if !slices.Contains(mems, x) {
			mems = append(mems, x)
		}
	}
	m.mu.Unlock()
	handled := 0
	for _, mem := range mems {
		if ctx.Err() != nil {
			return
		}
		var info []string
		m.opMu.Lock()
		err := m.withMemory(c, mem, func() error {
			var err error
			info, err = m.command(c, "+CMGL=4")
			return err
		})
		m.opMu.Unlock()
		if err != nil {
			m.log.Warn("listing stored messages failed", "memory", mem, "error", err)
			if errors.Is(err, ErrTimeout) || errors.Is(err, ErrOffline) {
				return
			}
			continue
		}
		for _, sm := range parseCMGL(info) {
			if sm.stat > 1 || ctx.Err() != nil {
				continue
			}
			if err := m.dispatch(ctx, sm.pdu); err != nil {
				m.log.Warn("stored message not handed over; kept on the modem", "memory", mem, "index", sm.index, "error", err)
				continue
			}
			if m.deleteStored(c, mem, sm.index) == nil {
				handled++
			}
		}
	}
	if handled > 0 {
		m.log.Info("drained stored messages", "count", handled)
	}
}

// dialectNow returns what initialisation learnt about the modem.
func (m *Modem) dialectNow() dialect {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.dialect
}
