package smspool

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/pbxgate/pbxgate/gateway/config"
	"github.com/pbxgate/pbxgate/gateway/message"
	gsms "github.com/pbxgate/pbxgate/gateway/sms"
	"github.com/pbxgate/pbxgate/gateway/store"
)

// txnSink takes status events inside the pool's transactions (writing
// ts/<id>/<status> there) except the statuses declined for a message;
// the collector sees them once committed. Status, the ordinary way,
// waits for gate for the IDs in hold.
type txnSink struct {
	ev      *events
	mu      sync.Mutex
	decline map[string]message.Status
	hold    map[string]chan struct{}
	plain   []string // "id status" handed over the ordinary way
}

func (s *txnSink) StatusTxn(ctx context.Context, txn *store.Txn, ev message.StatusEvent) (bool, func(bool), error) {
	s.mu.Lock()
	declined := s.decline[ev.ID] == ev.Status
	s.mu.Unlock()
	if declined {
		return false, nil, nil
	}
	if err := txn.Set([]byte("ts/"+ev.ID+"/"+string(ev.Status)), nil); err != nil {
		return false, nil, err
	}
	return true, func(committed bool) {
		if committed {
			_ = s.ev.Status(ctx, ev)
		}
	}, nil
}

func (s *txnSink) Status(ctx context.Context, ev message.StatusEvent) error {
	s.mu.Lock()
	gate := s.hold[ev.ID]
	s.plain = append(s.plain, ev.ID+" "+string(ev.Status))
	s.mu.Unlock()
	if gate != nil {
		<-gate
	}
	return s.ev.Status(ctx, ev)
}

// With a TxnSink, a message's status events are stored by the sink in the
// pool's transactions (no outbox entry, nothing handed over later), in
// order; once one event of a message takes the ordinary way (declined),
// the message's later events follow it there while it waits, so the sink
// never sees them out of order.
func TestStatusEventsInPoolTxn(t *testing.T) {
	t.Parallel()
	gate := make(chan struct{})
	sink := &txnSink{ev: newEvents(), decline: map[string]message.Status{"r2": message.Sending}, hold: map[string]chan struct{}{"r2": gate}}
	h := newHarness(t, Config{Sink: sink, Channels: []config.SMSChannel{{Name: "main", Modems: []string{"a"}}}})
	h.ev = sink.ev
	a := newFakeModem("a")
	h.attach(a)
	h.run()
	h.enqueue(message.Outbound{ID: "r1", Channel: "main", To: "+4915111", Text: "x", DeliveryReport: true})
	h.ev.waitFor(t, "r1 sent", func(st []message.StatusEvent, _ []message.Inbound) bool { return len(trail(st, "r1")) == 2 })
	a.mu.Lock()
	mr := a.sent[0].MRs[0]
	a.mu.Unlock()
	outcome, reason := gsms.StatusOutcome(0)
	if err := h.pool.HandleStatusReport(context.Background(), "a", StatusReport{MR: mr, Recipient: "+4915111", Outcome: outcome, Reason: reason}); err != nil {
		t.Fatal(err)
	}
	h.ev.waitFor(t, "r1 delivered", func(st []message.StatusEvent, _ []message.Inbound) bool {
		return slices.Equal(trail(st, "r1"), []string{"sending@a", "sent@a", "delivered"})
	})
	err := h.st.View(func(txn *store.Txn) error {
		for _, s := range []string{"sending", "sent", "delivered"} {
			if _, err := txn.Get([]byte("ts/r1/" + s)); err != nil {
				t.Errorf("r1 %s: not written in the pool's transaction: %v", s, err)
			}
		}
		if n := storeCount(txn, keyEvents); n != 0 {
			t.Errorf("%d events in the outbox, want none", n)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	// r2's "sending" takes the ordinary way and waits there (gate): its
	// "sent" must follow it, not overtake it in the transaction.
	h.enqueue(message.Outbound{ID: "r2", Channel: "main", To: "+4915122", Text: "y"})
	deadline := time.Now().Add(waitLimit)
	for {
		m, err := h.pool.Status("r2")
		if err != nil {
			t.Fatal(err)
		}
		if m.Status == message.Sent {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("r2 = %s, never sent", m.Status)
		}
		time.Sleep(time.Millisecond)
	}
	close(gate)
	h.ev.waitFor(t, "r2 sent", func(st []message.StatusEvent, _ []message.Inbound) bool {
		return slices.Equal(trail(st, "r2"), []string{"sending@a", "sent@a"})
	})
	sink.mu.Lock()
	plain := slices.Clone(sink.plain)
	sink.mu.Unlock()
	if !slices.Equal(plain, []string{"r2 sending", "r2 sent"}) {
		t.Fatalf("handed over the ordinary way: %q, want r2's sending, then its sent", plain)
	}
}
