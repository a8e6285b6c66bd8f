package modem

import (
	"context"
	"errors"
	"time"
)

// Run supervises the modem until ctx ends or Close is called: it connects
// (with backoff) if needed, processes indications, drains storage on start
// and every DrainInterval, polls signal/registration/operator every
// PollInterval, and recovers a modem that stops answering (re-init, then
// AT+CFUN=1,1, then port reopen) or vanishes (reopen with backoff). It
// returns nil when stopped, or an error wrapping ErrWrongPIN, ErrPUKLocked
// or ErrPINRequired, which need the administrator. Call it once; do not
// call Connect while it runs.
func (m *Modem) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-m.done:
			cancel()
		case <-ctx.Done():
		}
	}()
	if _, err := m.current(); err != nil {
		// reconnect drains once the modem is up.
		if err := m.reconnect(ctx); err != nil {
			return m.stopErr(ctx, err)
		}
	} else {
		m.drain(ctx)
	}
	poll := time.NewTicker(m.cfg.PollInterval)
	defer poll.Stop()
	drainT := time.NewTicker(m.cfg.DrainInterval)
	defer drainT.Stop()
	// One ticker, not a timer per loop turn: frequent events (polls,
	// indications) would restart a fresh timer for ever.
	heldT := time.NewTicker(holdRetry)
	defer heldT.Stop()
	for {
		var lost <-chan struct{}
		if c, err := m.current(); err == nil {
			lost = c.at.Closed()
		}
		select {
		case <-ctx.Done():
			return nil
		case <-m.events.signal:
			m.processEvents(ctx)
		case <-poll.C:
			m.poll(ctx)
		case <-drainT.C:
			m.drain(ctx)
		case <-heldT.C:
			if m.held.Load() && m.drainHeld() {
				m.drain(ctx)
			}
		case <-m.hung:
			if err := m.recover(ctx); err != nil {
				return m.stopErr(ctx, err)
			}
		case <-lost:
			m.log.Warn("modem port lost (unplugged or rebooting)")
			m.dropConn(StateOffline)
			if err := m.reconnect(ctx); err != nil {
				return m.stopErr(ctx, err)
			}
		}
	}
}

func (m *Modem) stopErr(ctx context.Context, err error) error {
	if ctx.Err() != nil || m.isClosed() {
		return nil
	}
	return err
}

// dropConn closes and forgets the current connection.
func (m *Modem) dropConn(s State) {
	m.mu.Lock()
	c := m.conn
	m.conn = nil
	m.mu.Unlock()
	if c != nil {
		c.close()
	}
	m.setState(s)
}

// poll refreshes registration, signal and operator.
func (m *Modem) poll(ctx context.Context) {
	c, err := m.current()
	if err != nil {
		return
	}
	run := func(cmd string) ([]string, error) {
		m.opMu.Lock()
		defer m.opMu.Unlock()
		return m.command(c, cmd)
	}
	// A modem that restarted without its port going away (a UART board
	// after a brownout, a firmware watchdog) is back to power-on settings:
	// initialise it again.
	if lost, err := m.settingsLost(c); err == nil && lost {
		m.log.Warn("modem lost its settings (restarted?); initialising it again")
		m.reinit(ctx, c)
		return
	}
	m.mu.Lock()
	d := m.dialect
	m.mu.Unlock()
	stat, err := m.readRegistration(run, d)
	if err != nil {
		return // a timeout already asked for recovery
	}
	m.readNetwork(run)
	// Indications are switched off by some modems after an unacknowledged
	// +CMT (3GPP TS 27.005 §3.4.4) or a SIM refresh; setting them again
	// costs one command. Stored messages are drained anyway.
	if err := m.setIndications(run, &d); err != nil {
		m.log.Warn("re-enabling new message indications failed", "error", err)
	}
	m.mu.Lock()
	if m.dialect.ds != d.ds || m.dialect.mode != d.mode {
		m.dialect.ds, m.dialect.mode = d.ds, d.mode
	}
	m.mu.Unlock()
	drained := false
	switch st := m.State(); {
	case registered(stat) && st == StateRegistering:
		m.setState(StateOnline)
		m.drain(ctx) // the network may hold messages for us
		drained = true
	case !registered(stat) && st == StateOnline:
		m.log.Warn("lost network registration", "status", registrationName(stat))
		m.setState(StateRegistering)
	}
	if !drained && m.State() == StateOnline && m.reportsPolled() {
		// Reports the modem does not announce (AT+CNMI <ds>=0), or one
		// announced that could not be read: polling reads them.
		m.drain(ctx)
	}
}

// reinit runs the initialisation again on the open port.
func (m *Modem) reinit(ctx context.Context, c *conn) {
	m.setState(StateRegistering)
	m.opMu.Lock()
	sctx, cancel := context.WithTimeout(ctx, m.cfg.InitTimeout)
	err := m.setup(sctx, c, 1)
	cancel()
	m.opMu.Unlock()
	switch {
	case err == nil:
		m.setState(StateOnline)
		m.drain(ctx)
	case errors.Is(err, ErrTimeout):
		m.noteTimeout()
	default:
		m.log.Warn("re-initialisation failed", "error", err)
		m.setState(stateFor(err))
	}
}

// recover escalates after a command timed out: re-initialise; if the modem
// still does not answer, reset it (AT+CFUN=1,1) and reopen the port, which
// may come back under another name (Locate finds it).
func (m *Modem) recover(ctx context.Context) error {
	c, err := m.current()
	if err != nil {
		return nil // already offline: the lost-port path reconnects
	}
	m.setState(StateHung)
	m.log.Warn("modem stopped answering; re-initialising")
	m.opMu.Lock()
	sctx, cancel := context.WithTimeout(ctx, m.cfg.InitTimeout)
	err = m.setup(sctx, c, 1)
	cancel()
	m.opMu.Unlock()
	if err == nil {
		m.setState(StateOnline)
		m.drainHung()
		m.drain(ctx)
		return nil
	}
	if permanent(err) {
		m.dropConn(stateFor(err))
		return err
	}
	if !errors.Is(err, ErrTimeout) && !errors.Is(err, ErrOffline) {
		// It answers but is not usable yet (no network, SIM busy): keep
		// the port and let polling bring it back online.
		m.log.Warn("modem answers again but is not ready", "error", err)
		m.setState(stateFor(err))
		m.drainHung()
		return nil
	}
	m.setState(StateResetting)
	m.log.Warn("modem still not answering; resetting it", "command", m.cfg.ResetCommand)
	m.opMu.Lock()
	_, _ = c.cmd(atBody(m.cfg.ResetCommand), m.cfg.CommandTimeout)
	m.opMu.Unlock()
	m.dropConn(StateResetting)
	m.drainHung()
	return m.reconnect(ctx)
}

// drainHung forgets timeouts reported before recovery finished.
func (m *Modem) drainHung() {
	select {
	case <-m.hung:
	default:
	}
}

// reconnect reopens the port with backoff until the modem is initialised,
// ctx ends or the SIM needs the administrator.
func (m *Modem) reconnect(ctx context.Context) error {
	backoff := m.cfg.ReopenBackoff
	for attempt := 1; ; attempt++ {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		err := m.Connect(ctx)
		if err == nil {
			m.drainHung()
			m.drain(ctx)
			return nil
		}
		if permanent(err) || errors.Is(err, ErrClosed) {
			m.log.Error("modem needs the administrator", "error", err)
			return err
		}
		m.log.Warn("modem not available; retrying", "attempt", attempt, "in", backoff, "error", err)
		if sleep(ctx, backoff) != nil {
			return ctx.Err()
		}
		backoff = min(2*backoff, m.cfg.MaxReopenBackoff)
	}
}

// restartGrace: restart signs this soon after an initialisation may be late
// lines of the boot it followed ("PB DONE" comes 10-20 s after "RDY"); they
// restore the settings only when the probe finds them lost.
const restartGrace = time.Minute

// restartEvent heads the event queued for a restart sign.
const restartEvent = "\x00restart"

// restartSignal is told by the port tap about restart signs.
func (m *Modem) restartSignal(line string) {
	if m.inSetup.Load() {
		return // the boot the running initialisation follows
	}
	m.events.push([]string{restartEvent, line})
}

// restarted handles a restart sign: the modem said it (re)started or
// echoed a command although pbxgate turned echo off. The whole setup is
// restored (PIN, PDU mode, storage, indications, init commands).
func (m *Modem) restarted(ctx context.Context, sign string) {
	c, err := m.current()
	if err != nil || m.inSetup.Load() {
		return
	}
	if st := m.State(); st == StateHung || st == StateResetting {
		return // recovery initialises it anyway
	}
	if time.Since(time.Unix(0, m.setupDone.Load())) < restartGrace {
		if lost, err := m.settingsLost(c); err != nil || !lost {
			return
		}
	}
	m.log.Warn("modem restarted by itself; restoring its settings", "sign", sign)
	m.reinit(ctx, c)
}

// settingsLost probes settings only pbxgate sets and a modem loses when it
// restarts: echo off (V.250 E0; power-on default E1), numeric error codes
// (AT+CMEE=1; default 0 on most modems) and PDU mode (AT+CMGF=0; some
// firmware starts in text mode).
func (m *Modem) settingsLost(c *conn) (bool, error) {
	m.opMu.Lock()
	defer m.opMu.Unlock()
	c.tap.echoed.Store(false)
	lost := false
	for _, q := range []struct{ cmd, want string }{{"+CMEE?", "1"}, {"+CMGF?", "0"}} {
		info, err := m.command(c, q.cmd)
		if err != nil {
			if errors.Is(err, ErrTimeout) || errors.Is(err, ErrOffline) {
				return false, err
			}
			continue
		}
		if f := infoFields(info, cmdID(q.cmd)); len(f) > 0 && f[0] != q.want {
			lost = true
		}
	}
	return lost || c.tap.echoed.Load(), nil
}
