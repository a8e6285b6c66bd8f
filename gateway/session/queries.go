package session

// Queries for the portal and the CLI.

import (
	"errors"
	"fmt"
	"slices"

	"github.com/pbxgate/pbxgate/gateway/store"
)

// Get returns a session.
func (m *Manager) Get(id string) (Session, error) {
	m.mu.Lock()
	if s := m.open[id]; s != nil {
		defer m.mu.Unlock()
		return *s.clone(), nil
	}
	m.mu.Unlock()
	var s Session
	err := m.st.View(func(txn *store.Txn) error { return store.GetJSON(txn, keySession+id, &s) })
	if errors.Is(err, store.ErrNotFound) {
		return s, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	return s, err
}

// Log returns a session's chat log in order.
func (m *Manager) Log(id string) ([]Entry, error) {
	var out []Entry
	err := m.st.View(func(txn *store.Txn) error {
		return store.Each(txn, keyLog+id+"/", func(_ string, val []byte) error {
			var e Entry
			if err := jsonUnmarshal(val, &e); err != nil {
				return err
			}
			out = append(out, e)
			return nil
		})
	})
	return out, err
}

// List returns sessions, newest first; openOnly limits it to open ones.
// limit <= 0 means all.
func (m *Manager) List(openOnly bool, limit int) ([]Session, error) {
	var out []Session
	if openOnly {
		m.mu.Lock()
		for _, s := range m.open {
			out = append(out, *s.clone())
		}
		m.mu.Unlock()
	} else if err := m.st.View(func(txn *store.Txn) error {
		return store.Each(txn, keySession, func(_ string, val []byte) error {
			var s Session
			if err := jsonUnmarshal(val, &s); err != nil {
				return err
			}
			out = append(out, s)
			return nil
		})
	}); err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b Session) int { return b.LastActivity.Compare(a.LastActivity) })
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// Pending is how many deliveries to extensions wait (for the portal and
// health checks).
func (m *Manager) Pending() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.dlv)
}

// Handles reports whether inbound messages of channel go to sessions (the
// daemon hands other channels' messages elsewhere, e.g. to automation).
func (m *Manager) Handles(channel string) bool { return m.chans[channel] != nil }

// RetryNow makes deliveries waiting for ext due at once (the portal's
// "retry" button, or a hint that the extension registered again). It
// returns how many messages wait for ext.
func (m *Manager) RetryNow(ext string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.clock.Now()
	n := 0
	for k, d := range m.dlv {
		if d.Ext != ext {
			continue
		}
		n++
		if d.NextAt.After(now) {
			nd := *d
			nd.NextAt = now
			m.dlv[k] = &nd // memory only: the stored time is a lower bound anyway
		}
	}
	if n > 0 {
		m.wake()
	}
	return n
}
