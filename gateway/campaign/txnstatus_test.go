package campaign

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/pbxgate/pbxgate/gateway/events"
	"github.com/pbxgate/pbxgate/gateway/message"
	"github.com/pbxgate/pbxgate/gateway/store"
)

// statusInTxn runs HandleStatusTxn for ev in a transaction of st that
// commits unless fail; it calls done as the SMS pool does unless skipDone.
func statusInTxn(t *testing.T, e *Engine, st *store.Store, ev message.StatusEvent, fail, skipDone bool) error {
	t.Helper()
	var done func(bool)
	errFail := errors.New("the channel's transaction fails")
	err := st.Update(func(txn *store.Txn) error {
		if err := txn.Set([]byte("chan/"+ev.ID), []byte(ev.Status)); err != nil {
			return err
		}
		d, err := e.HandleStatusTxn(bg, txn, ev)
		if err != nil {
			return err
		}
		done = d
		if fail {
			return errFail
		}
		return nil
	})
	if done != nil && !skipDone {
		done(err == nil)
	}
	if errors.Is(err, errFail) {
		return nil
	}
	return err
}

// A status taken inside the channel's transaction (the SMS pool's, through
// the router): the recipient changes in that commit and the counts once
// it committed; a transaction that does not commit changes nothing; with
// the engine's writer lock taken, a withdrawn message or an SMS fallback
// the engine declines without writing (events.ErrNotInTxn); a message not
// a campaign's is ErrUnknownStatus. A campaign record saved while such a
// change is committed but not yet counted keeps the stale-counts marker,
// so a crash then still ends with the right counts.
func TestStatusInChannelTxn(t *testing.T) {
	t.Parallel()
	led := newLedger()
	ch := newTxnChannel("sms-1", led)
	ch.quiet = true // the test reports
	ev := newEnv(t, "", Config{BatchSize: 3}, ch)
	ch.st.Store(ev.st)
	c, err := ev.e.Create(bg, smsSpec("Termine", "sms-1", "now"), numbers(4))
	if err != nil {
		t.Fatal(err)
	}
	ev.waitFor("every recipient handed over", func() bool { return ev.get(c.ID).Counts == Counts{Sending: 4} })
	rs := ev.recipients(c.ID)
	sent := func(i int) message.StatusEvent {
		return message.StatusEvent{ID: rs[i].MsgID, Status: message.Sent, Sender: "gsm1", At: baseTime()}
	}

	if err := statusInTxn(t, ev.e, ev.st, sent(0), false, false); err != nil {
		t.Fatal(err)
	}
	if got := ev.recipients(c.ID)[0]; got.Status != RSent || got.Sender != "gsm1" || !got.SentAt.Equal(baseTime()) {
		t.Fatalf("recipient 0 after its sent in the channel's transaction: %+v", got)
	}
	if got := ev.get(c.ID).Counts; got != (Counts{Sending: 3, Sent: 1}) {
		t.Fatalf("counts %+v", got)
	}

	if err := statusInTxn(t, ev.e, ev.st, sent(1), true, false); err != nil {
		t.Fatal(err)
	}
	if got := ev.recipients(c.ID)[1]; got.Status != RSending {
		t.Fatalf("recipient 1 after a transaction that did not commit: %s", got.Status)
	}
	if got := ev.get(c.ID).Counts; got != (Counts{Sending: 3, Sent: 1}) {
		t.Fatalf("counts after a transaction that did not commit: %+v", got)
	}

	ev.e.wmu.Lock()
	err = statusInTxn(t, ev.e, ev.st, sent(1), false, false)
	ev.e.wmu.Unlock()
	if !errors.Is(err, events.ErrNotInTxn) {
		t.Fatalf("with the writer lock taken: %v, want ErrNotInTxn", err)
	}
	withdrawn := message.StatusEvent{ID: rs[1].MsgID, Status: message.Failed, Code: message.CodeWithdrawn}
	if err := statusInTxn(t, ev.e, ev.st, withdrawn, false, false); !errors.Is(err, events.ErrNotInTxn) {
		t.Fatalf("withdrawn: %v, want ErrNotInTxn", err)
	}
	if err := statusInTxn(t, ev.e, ev.st, message.StatusEvent{ID: "cli-1", Status: message.Sent}, false, false); !errors.Is(err, ErrUnknownStatus) {
		t.Fatalf("not a campaign's message: %v, want ErrUnknownStatus", err)
	}
	if got := ev.recipients(c.ID)[1]; got.Status != RSending {
		t.Fatalf("recipient 1 after declined events: %s", got.Status)
	}

	// Committed, not yet counted (done not called) when the engine stops
	// and saves the record, then the process dies.
	if err := statusInTxn(t, ev.e, ev.st, sent(2), false, true); err != nil {
		t.Fatal(err)
	}
	ev.crash()
	ev2 := newEnv(t, ev.dir, Config{BatchSize: 3}, ch)
	if got := ev2.get(c.ID).Counts; got != (Counts{Sending: 2, Sent: 2}) {
		t.Fatalf("counts after the restart: %+v, want 2 sending, 2 sent (recounted)", got)
	}
}

// Engine.recips caches a Recipient as written (store.DecodeCache): only
// right while every field survives the JSON round trip unchanged. A field
// JSON skips, or a time kept with a location, fails this.
func TestRecipientRoundTrip(t *testing.T) {
	t.Parallel()
	at := baseTime()
	r := Recipient{Seq: 3, Number: "+4915112345678", Vars: map[string]string{"n": "1"}, Line: 4, Status: RSent,
		Reason: "r", ReasonCode: rCompleted.R(3), Code: "CMS 38", Attempt: 2, MsgID: "campaign-1-3-2", SessionID: "s",
		Sender: "gsm1", ChannelID: "mr:1", SendingAt: at, Withdrawn: 1, AcceptedAt: at.Add(time.Second), SentAt: at.Add(2 * time.Second),
		DoneAt: at.Add(3 * time.Second), Fallback: &FallbackState{Status: RSending, MsgID: "m.sms", Why: "timeout", Reason: "x",
			ReasonCode: rCompleted.R(1), At: at, DoneAt: at, Sender: "gsm2"}}
	rv := reflect.ValueOf(r)
	for i := range rv.NumField() {
		if rv.Field(i).IsZero() {
			t.Fatalf("field %s not set: the test must cover every field", rv.Type().Field(i).Name)
		}
	}
	b, err := store.MarshalFast(&r)
	if err != nil {
		t.Fatal(err)
	}
	var back Recipient
	if err := store.UnmarshalFast(b, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, r) {
		t.Fatalf("round trip changed the recipient:\n%+v\n%+v", r, back)
	}
	if c := cloneRecipient(r); c.Fallback == r.Fallback || reflect.ValueOf(c.Vars).UnsafePointer() == reflect.ValueOf(r.Vars).UnsafePointer() {
		t.Fatal("cloneRecipient shares Vars or Fallback")
	}
}
