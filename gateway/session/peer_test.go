package session

import (
	"slices"
	"testing"
	"time"

	"github.com/pbxgate/pbxgate/gateway/message"
	"github.com/pbxgate/pbxgate/gateway/store"
)

// told is a Replicator that keeps what it was told.
type told struct {
	sessions []Session
	entries  []Entry
}

func (r *told) Box() string { return "box1" }
func (r *told) SessionChanged(_ *store.Txn, s *Session) error {
	r.sessions = append(r.sessions, *s.clone())
	return nil
}
func (r *told) EntryChanged(_ *store.Txn, _ string, e *Entry) error {
	r.entries = append(r.entries, *e)
	return nil
}

// A session and its chat-log entries are told to the Replicator with this
// box and the time stamped; after a restart the manager works only the
// sessions this box holds, not the replicas of another box's it stores.
func TestReplicatorAndReplicas(t *testing.T) {
	h := newHarness(t, Target{Kind: ToExtension, ID: "201"})
	r := &told{}
	h.cfg.Replicator = r
	h.st.Close()
	h.open()
	h.inbound("sms", "+4917011111111", "Hallo")
	h.settle()
	s := h.only("")
	if s.Box != "box1" || !s.Updated.Equal(h.clock.Now()) || len(r.sessions) == 0 || r.sessions[len(r.sessions)-1].ID != s.ID {
		t.Fatalf("session %+v, told %d sessions", s, len(r.sessions))
	}
	if len(r.entries) == 0 || r.entries[0].Box != "box1" || r.entries[0].Text != "Hallo" {
		t.Fatalf("entries told: %+v", r.entries)
	}
	// The last version told of the entry is its delivered state.
	if last := r.entries[len(r.entries)-1]; last.Status != "delivered" {
		t.Errorf("last version of the entry told: %+v, want delivered", last)
	}
	// Another box's open session, merged in.
	peer := Session{ID: "peer1", Channel: "sms", Kind: message.SMS, Contact: "+4917022222222", State: Open,
		Target: Target{Kind: ToExtension, ID: "202"}, Created: h.clock.Now(), LastActivity: h.clock.Now(), NextSeq: 2,
		Box: "box2", Updated: h.clock.Now()}
	if err := h.st.Update(func(txn *store.Txn) error {
		if _, err := MergeSessionTxn(txn, peer); err != nil {
			return err
		}
		_, err := MergeEntryTxn(txn, "peer1", Entry{Seq: 1, Dir: In, Text: "Von box2", Status: "pending", Box: "box2", Updated: h.clock.Now()})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	h.st.Close()
	h.open()
	open, _ := h.m.List(true, 0)
	if len(open) != 1 || open[0].ID != s.ID {
		t.Errorf("after the restart the manager works %+v, want only %s", open, s.ID)
	}
	all, _ := h.m.List(false, 0)
	if len(all) != 2 {
		t.Errorf("stored sessions: %d, want 2 (its own and box2's)", len(all))
	}
	if log, err := h.m.Log("peer1"); err != nil || len(log) != 1 || log[0].Text != "Von box2" {
		t.Errorf("chat log of box2's session: %+v %v", log, err)
	}
	// Nothing goes to extensions for box2's session: box2 delivers it.
	h.settle()
	if got := h.phones.peek("202"); len(got) != 0 {
		t.Errorf("extension 202 got %v from a replica", got)
	}
}

// Two versions of one session written on two boxes during a partition
// merge to the same result in either order: the later write's state,
// every timeline event of both, the larger NextSeq.
func TestMergeSessionIsDeterministic(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	base := Session{ID: "s1", Channel: "sms", Contact: "+4917011111111", State: Open, NextSeq: 3, Box: "box1", Updated: t0,
		Timeline: []Event{{At: t0, Op: "created", By: "contact"}}}
	a := base
	a.Timeline = append(slices.Clone(base.Timeline), Event{At: t0.Add(time.Second), Op: "transferred", By: "201", Detail: "201 → 202"})
	a.Target, a.Owner, a.Updated, a.NextSeq = Target{Kind: ToExtension, ID: "202"}, "202", t0.Add(time.Second), 4
	b := base
	b.Timeline = append(slices.Clone(base.Timeline), Event{At: t0.Add(2 * time.Second), Op: "closed", By: "portal:alice"})
	b.State, b.Box, b.Updated, b.ClosedAt = Closed, "box2", t0.Add(2*time.Second), t0.Add(2*time.Second)

	ab, _ := MergeSession(&a, b)
	ba, _ := MergeSession(&b, a)
	for _, m := range []Session{ab, ba} {
		if m.State != Closed || m.Box != "box2" || m.Target.ID != "" || m.NextSeq != 4 || len(m.Timeline) != 3 ||
			m.Timeline[1].Op != "transferred" || m.Timeline[2].Op != "closed" {
			t.Errorf("merged: %+v", m)
		}
	}
	if !slices.Equal(ab.Timeline, ba.Timeline) {
		t.Errorf("the order of arrival changed the timeline: %+v / %+v", ab.Timeline, ba.Timeline)
	}
	if _, changed := MergeSession(&ab, b); changed {
		t.Error("merging a version again changed the session")
	}
	// Same time: the larger box name wins.
	c := a
	c.Updated = b.Updated
	if m, _ := MergeSession(&c, b); m.Box != "box2" {
		t.Errorf("at the same time box %s won", m.Box)
	}
	// Entries: the later write, delivered to the extensions of both.
	e1 := Entry{Seq: 1, Dir: In, Text: "Hallo", Status: "delivered", DeliveredTo: []string{"201"}, Box: "box1", Updated: t0}
	e2 := Entry{Seq: 1, Dir: In, Text: "Hallo", Status: "delivered", DeliveredTo: []string{"202"}, Box: "box2", Updated: t0.Add(time.Second)}
	m1, _ := MergeEntry(&e1, e2)
	m2, _ := MergeEntry(&e2, e1)
	if m1.Box != "box2" || m2.Box != "box2" || len(m1.DeliveredTo) != 2 || !slices.Equal(m1.DeliveredTo, m2.DeliveredTo) {
		t.Errorf("merged entries: %+v / %+v", m1, m2)
	}
}
