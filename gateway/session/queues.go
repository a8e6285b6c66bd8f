package session

// Queues and offers: assigning a session to an extension or queue and
// offering it to the queue's members.

import (
	"slices"
	"strings"
	"time"
)

func (m *Manager) qs(name string) *queueState {
	q := m.qstate[name]
	if q == nil {
		return &queueState{Last: map[string]time.Time{}}
	}
	n := *q
	n.Last = make(map[string]time.Time, len(q.Last))
	for k, v := range q.Last {
		n.Last[k] = v
	}
	return &n
}

// assign routes s to target: an extension owns it at once, a queue offers
// it to members per its distribution.
func (m *Manager) assign(c *change, s *Session, target Target, by string, now time.Time) {
	s.Target, s.Owner, s.PickedUp = target, "", false
	s.Offered, s.Tried, s.Exhausted, s.OfferedAt = nil, nil, false, time.Time{}
	if target.Kind == ToExtension {
		s.Owner = target.ID
		s.event(now, "assigned", by, target.ID)
		return
	}
	q := m.queues[target.ID]
	s.event(now, "assigned", by, target.String())
	if q.Assignment == None {
		s.Offered = slices.Clone(q.Members)
		return
	}
	m.offer(c, s, q, now)
}

// offer offers s to the next member(s) of q not tried yet. It returns false
// when every member was tried.
func (m *Manager) offer(c *change, s *Session, q *Queue, now time.Time) bool {
	var cands []string
	for _, mem := range q.Members {
		if !slices.Contains(s.Tried, mem) {
			cands = append(cands, mem)
		}
	}
	if len(cands) == 0 {
		return false
	}
	st := c.queues[q.Name]
	if st == nil {
		st = m.qs(q.Name)
	}
	var pick []string
	switch q.Distribution {
	case RoundRobin:
		for i := range len(q.Members) {
			idx := (st.Next + i) % len(q.Members)
			if mem := q.Members[idx]; slices.Contains(cands, mem) {
				pick = []string{mem}
				st.Next = idx + 1
				break
			}
		}
	case LeastRecent:
		best := cands[0]
		for _, mem := range cands[1:] {
			if st.Last[mem].Before(st.Last[best]) {
				best = mem
			}
		}
		pick = []string{best}
	default:
		pick = cands
	}
	for _, p := range pick {
		st.Last[p] = now
	}
	c.queues[q.Name] = st
	s.Offered, s.OfferedAt = pick, now
	if q.Assignment == Auto && len(pick) == 1 {
		s.Owner = pick[0]
		s.event(now, "assigned", "pbxgate", pick[0])
	} else {
		s.event(now, "offered", "pbxgate", strings.Join(pick, ","))
	}
	return true
}

// audience is who receives the session's messages now.
func (m *Manager) audience(s *Session) []string {
	if s.Owner != "" {
		return []string{s.Owner}
	}
	return s.Offered
}

// queueDeliveries stores deliveries of e to every ext.
func (m *Manager) queueDeliveries(c *change, s *Session, e Entry, exts []string, now time.Time) {
	for _, ext := range exts {
		k := deliveryKey(s.ID, e.Seq, ext)
		if _, ok := m.dlv[k]; ok {
			continue
		}
		chat := s.chat(e)
		chat.Thread, chat.Label = m.threads[s.Channel], m.labels[s.Channel]
		// Notes (a transfer's) are pbxgate's words, not the contact's.
		chat.Notice = e.Dir == Note
		c.puts = append(c.puts, &delivery{Key: k, Ext: ext, Chat: chat, NextAt: now})
	}
}
