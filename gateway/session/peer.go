package session

// Sessions in a cluster. Every box keeps the sessions of the whole cluster
// in its own store: the ones it holds (Session.Box is this box: it created
// them, its extensions answer them, it writes them) and replicas of the
// other boxes' sessions, which gateway/logsync merges in here. The manager
// loads and works only the sessions it holds; the replicas are read by the
// portal and the API (Get, Log, List).

import (
	"errors"
	"fmt"
	"slices"

	"github.com/pbxgate/pbxgate/gateway/store"
)

// Replicator is told of every session and chat-log entry this box writes,
// inside the transaction that writes it (gateway/logsync keeps them in a
// durable outbox in that transaction). Box names this box; the manager
// stamps Box and Updated on what it writes before telling.
type Replicator interface {
	Box() string
	SessionChanged(txn *store.Txn, s *Session) error
	EntryChanged(txn *store.Txn, session string, e *Entry) error
}

// holds reports whether this box works s: on a box alone every session,
// in a cluster the ones it created (and those from before it joined).
func (m *Manager) holds(s *Session) bool {
	r := m.cfg.Replicator
	return r == nil || s.Box == "" || s.Box == r.Box()
}

func (m *Manager) replicateSession(txn *store.Txn, s *Session) error {
	r := m.cfg.Replicator
	if r == nil {
		return nil
	}
	s.Box, s.Updated = r.Box(), m.clock.Now().UTC()
	if err := r.SessionChanged(txn, s); err != nil {
		return fmt.Errorf("replicate session %s: %w", s.ID, err)
	}
	return nil
}

// setEntry writes a chat-log entry (and tells the Replicator).
func (m *Manager) setEntry(txn *store.Txn, session string, e *Entry) error {
	if r := m.cfg.Replicator; r != nil {
		e.Box, e.Updated = r.Box(), m.clock.Now().UTC()
		if err := r.EntryChanged(txn, session, e); err != nil {
			return fmt.Errorf("replicate entry %s/%d: %w", session, e.Seq, err)
		}
	}
	return store.SetJSON(txn, entryKey(session, e.Seq), e)
}

// laterThan reports whether a is a later write than b by (Updated, Box): the
// later time wins, at the same time the larger box name.
func laterThan(a, b Session) bool {
	if !a.Updated.Equal(b.Updated) {
		return a.Updated.After(b.Updated)
	}
	return a.Box > b.Box
}

// MergeSession merges s, a session from another box, into cur, this box's
// copy (nil: none), and returns the result and whether it differs from
// cur. The merge is deterministic: the state fields (state, target,
// owner, offers, sender, …) are those of the later write by (Updated,
// Box); the timeline keeps every event of both (the winner's in its order,
// then the other's missing ones, ordered by time); NextSeq is the larger.
func MergeSession(cur *Session, s Session) (Session, bool) {
	if cur == nil {
		return s, true
	}
	win, lose := s, *cur
	if !laterThan(s, *cur) {
		win, lose = *cur, s
	}
	win.Timeline = slices.Clone(win.Timeline)
	extra := false
	for _, ev := range lose.Timeline {
		if !slices.ContainsFunc(win.Timeline, func(e Event) bool {
			return e.At.Equal(ev.At) && e.Op == ev.Op && e.By == ev.By && e.Detail == ev.Detail
		}) {
			win.Timeline = append(win.Timeline, ev)
			extra = true
		}
	}
	if extra {
		slices.SortStableFunc(win.Timeline, func(a, b Event) int { return a.At.Compare(b.At) })
	}
	win.NextSeq = max(win.NextSeq, lose.NextSeq)
	changed := win.Box != cur.Box || !win.Updated.Equal(cur.Updated) || extra || win.NextSeq != cur.NextSeq
	return win, changed
}

// MergeEntry merges e, a chat-log entry from another box, into cur (nil:
// none): the later write by (Updated, Box) wins; the extensions it was
// delivered to are those of both.
func MergeEntry(cur *Entry, e Entry) (Entry, bool) {
	if cur == nil {
		return e, true
	}
	win, lose := e, *cur
	if !(e.Updated.After(cur.Updated) || e.Updated.Equal(cur.Updated) && e.Box > cur.Box) {
		win, lose = *cur, e
	}
	win.DeliveredTo = slices.Clone(win.DeliveredTo)
	extra := false
	for _, x := range lose.DeliveredTo {
		if !slices.Contains(win.DeliveredTo, x) {
			win.DeliveredTo = append(win.DeliveredTo, x)
			extra = true
		}
	}
	changed := win.Box != cur.Box || !win.Updated.Equal(cur.Updated) || extra
	return win, changed
}

// MergeSessionTxn merges s from another box into the store (MergeSession)
// and reports whether it wrote. The Replicator is not told.
func MergeSessionTxn(txn *store.Txn, s Session) (bool, error) {
	if s.ID == "" {
		return false, errors.New("session: a session from the cluster without ID")
	}
	var cur Session
	var pc *Session
	switch err := store.GetJSON(txn, keySession+s.ID, &cur); {
	case err == nil:
		pc = &cur
	case !errors.Is(err, store.ErrNotFound):
		return false, err
	}
	merged, changed := MergeSession(pc, s)
	if !changed {
		return false, nil
	}
	return true, store.SetJSON(txn, keySession+s.ID, merged)
}

// MergeEntryTxn merges chat-log entry e of session from another box into
// the store (MergeEntry) and reports whether it wrote.
func MergeEntryTxn(txn *store.Txn, session string, e Entry) (bool, error) {
	if session == "" || e.Seq <= 0 {
		return false, fmt.Errorf("session: chat-log entry %q/%d from the cluster", session, e.Seq)
	}
	var cur Entry
	var pc *Entry
	switch err := store.GetJSON(txn, entryKey(session, e.Seq), &cur); {
	case err == nil:
		pc = &cur
	case !errors.Is(err, store.ErrNotFound):
		return false, err
	}
	merged, changed := MergeEntry(pc, e)
	if !changed {
		return false, nil
	}
	return true, store.SetJSON(txn, entryKey(session, e.Seq), merged)
}

// EachStored calls fn with every session in the store (the box's own and
// the other boxes' replicas) and its chat log, in ID order, until fn
// returns an error. It needs no Manager: a box without the PBX keeps the
// other boxes' sessions too.
func EachStored(txn *store.Txn, fn func(s Session, log []Entry) error) error {
	return store.Each(txn, keySession, func(_ string, val []byte) error {
		var s Session
		if err := jsonUnmarshal(val, &s); err != nil {
			return err
		}
		var log []Entry
		if err := store.Each(txn, keyLog+s.ID+"/", func(_ string, v []byte) error {
			var e Entry
			if err := jsonUnmarshal(v, &e); err != nil {
				return err
			}
			log = append(log, e)
			return nil
		}); err != nil {
			return err
		}
		return fn(s, log)
	})
}
