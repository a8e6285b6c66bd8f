package modemsim

import "github.com/warthog618/sms/encoding/tpdu"

// Message status values of 3GPP TS 27.005 (PDU mode numbers).
const (
	statRecUnread = 0
	statRecRead   = 1
	statStoUnsent = 2
	statStoSent   = 3
	statAll       = 4
)

var statText = map[int]string{
	statRecUnread: "REC UNREAD",
	statRecRead:   "REC READ",
	statStoUnsent: "STO UNSENT",
	statStoSent:   "STO SENT",
	statAll:       "ALL",
}

// stored is one occupied storage slot.
type stored struct {
	stat int
	pdu  *tpdu.TPDU
}

// memory is a message store ("SM", "ME", "SR") with a fixed number of slots.
// Indices are slot positions plus the model's index base.
type memory struct {
	name  string
	slots []*stored
}

func newMemory(name string, capacity int) *memory {
	return &memory{name: name, slots: make([]*stored, capacity)}
}

func (m *memory) used() int {
	n := 0
	for _, s := range m.slots {
		if s != nil {
			n++
		}
	}
	return n
}

func (m *memory) total() int { return len(m.slots) }

// put stores a message in the lowest free slot; ok is false when full.
func (m *memory) put(s *stored) (slot int, ok bool) {
	for i, x := range m.slots {
		if x == nil {
			m.slots[i] = s
			return i, true
		}
	}
	return 0, false
}

func (m *memory) get(slot int) *stored {
	if slot < 0 || slot >= len(m.slots) {
		return nil
	}
	return m.slots[slot]
}

func (m *memory) valid(slot int) bool { return slot >= 0 && slot < len(m.slots) }

func (m *memory) del(slot int) {
	if m.valid(slot) {
		m.slots[slot] = nil
	}
}

// deleteFlag applies AT+CMGD's <delflag> (1..4) to the whole memory.
func (m *memory) deleteFlag(flag int) {
	for i, s := range m.slots {
		if s == nil {
			continue
		}
		switch {
		case flag >= 4,
			flag >= 3 && s.stat == statStoUnsent,
			flag >= 2 && s.stat == statStoSent,
			flag >= 1 && s.stat == statRecRead:
			m.slots[i] = nil
		}
	}
}
