package modem

import (
	"time"
)

// Hold tells the modem to leave received messages where they are. While
// Blocked reports true (pbxgate's disk is almost full, see
// gateway/diskguard) the modem reads no stored message and acknowledges no
// routed one: messages stay on the SIM (and, when it is full, in the
// network, which retries), and nothing is deleted before it is stored. They
// are read as soon as Blocked reports false again.
type Hold interface {
	Blocked() (reason string, blocked bool)
}

// holdRetry is how often a modem that left messages on the SIM looks again
// whether it may read them.
const holdRetry = 2 * time.Second

// holding reports whether received messages must stay on the modem now,
// and remembers that some did so Run drains them once the hold ends.
func (m *Modem) holding() bool {
	if m.cfg.Hold == nil {
		return false
	}
	reason, blocked := m.cfg.Hold.Blocked()
	if blocked {
		if !m.held.Swap(true) {
			m.log.Warn("received messages stay on the SIM until the hold ends", "reason", reason)
		}
	}
	return blocked
}

// heldRetry fires while messages wait on the SIM because of the hold. Only
// Run's goroutine calls it; one timer runs at a time, so frequent events do
// not postpone it.
func (m *Modem) heldRetry() <-chan time.Time {
	if !m.held.Load() {
		m.retryC = nil
		return nil
	}
	if m.retryC == nil {
		m.retryC = time.After(holdRetry)
	}
	return m.retryC
}

// drainHeld tells whether the messages left on the SIM once the hold ended.
func (m *Modem) drainHeld() bool {
	m.retryC = nil
	if m.cfg.Hold != nil {
		if _, blocked := m.cfg.Hold.Blocked(); blocked {
			return false
		}
	}
	m.held.Store(false)
	return true
}
