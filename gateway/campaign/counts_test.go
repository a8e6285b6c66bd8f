package campaign

import (
	"errors"
	"testing"

	"github.com/pbxgate/pbxgate/gateway/message"
	"github.com/pbxgate/pbxgate/gateway/store"
	"github.com/pbxgate/pbxgate/gateway/testkit"
)

// storedRecord is campaign id's record as stored, and whether a
// stale-counts marker names it.
func storedRecord(t *testing.T, st *store.Store, id string) (Campaign, bool) {
	t.Helper()
	var c Campaign
	stale := false
	err := st.View(func(txn *store.Txn) error {
		if err := store.GetJSONFast(txn, string(campKey(id)), &c); err != nil {
			return err
		}
		_, err := txn.Get(staleKey(id))
		if err == nil {
			stale = true
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return c, stale
}

// Recipient changes do not rewrite the campaign record: its counts are
// kept in memory and a marker says the stored ones are behind. After a
// crash the next start recounts them from the recipient records, and the
// stored record is right again.
func TestCountsRecountedAfterCrash(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	led := newLedger()
	ch := newTestChannel("sms-1", led)
	ev := newEnv(t, dir, Config{BatchSize: 2}, ch)
	c, err := ev.e.Create(bg, smsSpec("Termine", "sms-1", "now"), numbers(5))
	if err != nil {
		t.Fatal(err)
	}
	c = ev.waitState(c.ID, Completed)
	if sc, stale := storedRecord(t, ev.st, c.ID); stale || sc.Counts != c.Counts {
		t.Fatalf("after completion: stored counts %+v (stale %v), engine %+v", sc.Counts, stale, c.Counts)
	}
	sends := ch.sends()
	for _, s := range []message.StatusEvent{
		{ID: sends[0].ID, Status: message.Delivered},
		{ID: sends[1].ID, Status: message.Delivered},
		{ID: sends[2].ID, Status: message.Failed, Reason: "CMS ERROR 500", Code: "500"},
	} {
		if err := ev.e.HandleStatus(bg, s); err != nil {
			t.Fatal(err)
		}
	}
	want := Counts{Sent: 2, Delivered: 2, Failed: 1}
	if got := ev.get(c.ID).Counts; got != want {
		t.Fatalf("engine counts %+v, want %+v", got, want)
	}
	// The stored record lags behind (this is what the test is about).
	lagging, stale := storedRecord(t, ev.st, c.ID)
	if !stale || lagging.Counts == want {
		t.Fatalf("stored counts %+v, stale marker %v: the record was rewritten", lagging.Counts, stale)
	}
	// A stop writes the counts (the next start need not recount) ...
	ev.crash()
	st := testkit.StoreAt(t, dir)
	if sc, stale := storedRecord(t, st, c.ID); stale || sc.Counts != want {
		t.Fatalf("after the stop: stored counts %+v, stale marker %v", sc.Counts, stale)
	}
	// ... a kill -9 does not: put the store back as it was before the
	// stop (lagging record, marker, recipients as they are).
	if err := st.Update(func(txn *store.Txn) error {
		if err := txn.Set(staleKey(c.ID), nil); err != nil {
			return err
		}
		return store.SetJSONFast(txn, string(campKey(c.ID)), &lagging)
	}); err != nil {
		t.Fatal(err)
	}
	st.Close()

	ev2 := newEnv(t, dir, Config{BatchSize: 2}, ch)
	c2 := ev2.get(c.ID)
	if c2.Counts != want || countsOf(ev2.recipients(c.ID)) != want {
		t.Fatalf("after restart: counts %+v, recipients %+v, want %+v", c2.Counts, countsOf(ev2.recipients(c.ID)), want)
	}
	if sc, stale := storedRecord(t, ev2.st, c.ID); stale || sc.Counts != want {
		t.Fatalf("after restart: stored counts %+v, stale marker %v", sc.Counts, stale)
	}
	// Deleting the campaign takes a marker with it.
	if err := ev2.e.HandleStatus(bg, message.StatusEvent{ID: sends[3].ID, Status: message.Delivered}); err != nil {
		t.Fatal(err)
	}
	if _, stale := storedRecord(t, ev2.st, c.ID); !stale {
		t.Fatal("no stale marker after a status event")
	}
	if err := ev2.e.Delete(bg, c.ID); err != nil {
		t.Fatal(err)
	}
	err = ev2.st.View(func(txn *store.Txn) error {
		_, err := txn.Get(staleKey(c.ID))
		return err
	})
	if !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("stale marker after delete: %v", err)
	}
}

// With a channel that takes the same ID twice as once (ResendSafety), the
// accepted marks ride in the next batch's transaction; the last ones are
// stored when the dispatcher ends. Every recipient the channel accepted
// ends up "sending" with AcceptedAt, so neither a Resume nor a restart
// hands it over again.
func TestAcceptedMarksRideOnTheNextBatch(t *testing.T) {
	t.Parallel()
	led := newLedger()
	ch := newTestChannel("sms-1", led)
	ch.quiet = true // no reports: the recipients stay "sending"
	ev := newEnv(t, "", Config{BatchSize: 2}, ch)
	c, err := ev.e.Create(bg, smsSpec("Termine", "sms-1", "now"), numbers(7))
	if err != nil {
		t.Fatal(err)
	}
	ev.waitFor("every recipient accepted", func() bool {
		rs := ev.recipients(c.ID)
		for _, r := range rs {
			if r.Status != RSending || r.AcceptedAt.IsZero() {
				return false
			}
		}
		return len(rs) == 7
	})
	if n := len(ch.sends()); n != 7 {
		t.Fatalf("%d hand-overs, want 7", n)
	}
	for _, r := range ev.recipients(c.ID) {
		if r.MsgID == "" || r.AcceptedAt.Before(r.SendingAt) {
			t.Errorf("recipient %d: %+v", r.Seq, r)
		}
	}
	if got := ev.get(c.ID).Counts; got != (Counts{Sending: 7}) {
		t.Errorf("counts %+v", got)
	}
}

// HandleStatuses stores the changes of a whole batch of channel reports
// in one transaction and answers each event as HandleStatus would: events
// of one message in order, a late "sent" after "delivered" moves nothing,
// an ID that is no campaign's is ErrUnknownStatus.
func TestHandleStatusesOneTransaction(t *testing.T) {
	t.Parallel()
	led := newLedger()
	ch := newTestChannel("sms-1", led)
	ev := newEnv(t, "", Config{BatchSize: 2}, ch)
	c, err := ev.e.Create(bg, smsSpec("Termine", "sms-1", "now"), numbers(5))
	if err != nil {
		t.Fatal(err)
	}
	c = ev.waitState(c.ID, Completed)
	sends := ch.sends()
	evs := []message.StatusEvent{
		{ID: sends[0].ID, Status: message.Delivered},
		{ID: "wa-xyz", Status: message.Sent},
		{ID: sends[0].ID, Status: message.Sent}, // late: moves nothing
		{ID: sends[1].ID, Status: message.Failed, Reason: "CMS ERROR 500", Code: "500"},
		{ID: sends[2].ID, Status: message.Delivered},
	}
	before := ev.st.Commits()
	errs := ev.e.HandleStatuses(bg, evs)
	if got := ev.st.Commits() - before; got != 1 {
		t.Fatalf("%d transactions for one batch, want 1", got)
	}
	for i, err := range errs {
		if (i == 1) != errors.Is(err, ErrUnknownStatus) || (i != 1 && err != nil) {
			t.Fatalf("event %d (%s): %v", i, evs[i].ID, err)
		}
	}
	want := Counts{Sent: 2, Delivered: 2, Failed: 1}
	if got := ev.get(c.ID).Counts; got != want {
		t.Fatalf("engine counts %+v, want %+v", got, want)
	}
	if got := countsOf(ev.recipients(c.ID)); got != want {
		t.Fatalf("stored recipients %+v, want %+v", got, want)
	}
}

// An accepted mark is stored only while the recipient is still "sending"
// under the ID handed over: once a report moved it on (the usual case at
// full speed), AcceptedAt has no use and writing it would cost a
// recipient write per message.
func TestAcceptedMarkSkippedOnceReported(t *testing.T) {
	at := baseTime()
	var a acceptedMarks
	a.add(1, acceptedMark{msgID: "campaign-x-1-1", at: at})
	a.add(2, acceptedMark{msgID: "campaign-x-2-1", at: at, sessionID: "s-2"})
	sending := Recipient{Seq: 1, Status: RSending, MsgID: "campaign-x-1-1"}
	if !a.apply(&sending) || !sending.AcceptedAt.Equal(at) {
		t.Fatalf("sending recipient not marked: %+v", sending)
	}
	sent := Recipient{Seq: 1, Status: RSent, MsgID: "campaign-x-1-1"}
	if a.apply(&sent) || !sent.AcceptedAt.IsZero() {
		t.Fatalf("reported recipient rewritten: %+v", sent)
	}
	other := Recipient{Seq: 1, Status: RSending, MsgID: "campaign-x-1-2"}
	if a.apply(&other) {
		t.Fatal("a recipient handed over again under a new ID took the old mark")
	}
	// A session ID still has to be stored.
	withSession := Recipient{Seq: 2, Status: RSent, MsgID: "campaign-x-2-1"}
	if !a.apply(&withSession) || withSession.SessionID != "s-2" {
		t.Fatalf("session ID not stored: %+v", withSession)
	}
}

// A pending accepted mark whose recipient a stored report moved on is
// dropped before the next batch (not even read), unless it carries a
// session ID; the engine forgets every mark it no longer needs.
func TestReportedMarksDropped(t *testing.T) {
	e := &Engine{}
	var a acceptedMarks
	for i, id := range []string{"m1", "m2", "m3"} {
		e.awaitReport(id)
		m := acceptedMark{msgID: id, at: baseTime()}
		if id == "m3" {
			m.sessionID = "s3"
		}
		a.add(i+1, m)
	}
	e.reported("m1")
	e.reported("m3")
	e.reported("m9") // no mark: nothing to note
	e.dropReported(&a)
	if _, ok := a.bySeq[1]; ok || len(a.bySeq) != 2 {
		t.Fatalf("marks left %v, want m2 and m3 (session ID)", a.bySeq)
	}
	if len(e.marks) != 2 {
		t.Fatalf("engine still tracks %v", e.marks)
	}
	e.forgetMarks(&a)
	if len(e.marks) != 0 {
		t.Fatalf("engine still tracks %v after the marks were stored", e.marks)
	}
}
