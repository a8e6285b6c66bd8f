package smspool

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pbxgate/pbxgate/gateway/config"
	"github.com/pbxgate/pbxgate/gateway/message"
	"github.com/pbxgate/pbxgate/gateway/store"
)

// deferCheckSink records whether each status event came with a context
// marked store.DeferSync, then collects it like the harness's events.
type deferCheckSink struct {
	mu       sync.Mutex
	plain    []string // events offered without the mark
	next     *events
	received int
}

func (d *deferCheckSink) Status(ctx context.Context, ev message.StatusEvent) error {
	d.mu.Lock()
	d.received++
	if !store.SyncDeferred(ctx) {
		d.plain = append(d.plain, fmt.Sprintf("%s:%s", ev.ID, ev.Status))
	}
	d.mu.Unlock()
	return d.next.Status(ctx, ev)
}

// The status outbox lets its consumer write without waiting for a sync
// (store.DeferSync on every event): an event leaves the outbox only by a
// later commit, so a consumer's write lost in a power cut is offered
// again. A message queued with a DeferSync context (as the campaign engine
// hands its messages over) is still sent — once — with sync_writes on, and
// its record is on disk after a restart.
func TestStatusOutboxDefersConsumerSync(t *testing.T) {
	t.Parallel()
	sink := &deferCheckSink{next: newEvents()}
	h := newHarness(t, Config{Sink: sink, Channels: []config.SMSChannel{{Name: "main", Modems: []string{"gsm1"}}}})
	h.ev = sink.next
	h.stop()
	h.syncWrites = true
	h.open()
	r := newSimRig(t, h, []string{"gsm1"}, simOpts{reportDelay: 5 * time.Millisecond})
	r.attachAll()
	h.run()
	ctx := store.DeferSync(context.Background())
	var want []string
	for i := range 5 {
		id := fmt.Sprintf("dc-%d", i)
		want = append(want, id)
		if err := h.pool.Enqueue(ctx, message.Outbound{ID: id, Channel: "main", To: "+4917612345678",
			Text: "deferred " + id, DeliveryReport: true}); err != nil {
			t.Fatal(err)
		}
	}
	h.ev.final(t, want...)
	sink.mu.Lock()
	plain, n := sink.plain, sink.received
	sink.mu.Unlock()
	if n == 0 {
		t.Fatal("no status events reached the sink")
	}
	if len(plain) > 0 {
		t.Fatalf("status events offered without store.DeferSync: %v", plain)
	}
	for _, id := range want {
		if got := r.sentBy()["deferred "+id]; len(got) != 1 || got["gsm1"] != 1 {
			t.Errorf("%s went out %v, want once", id, got)
		}
	}
	// Restart: the records are in the store.
	h.stop()
	h.open()
	for _, id := range want {
		m, err := h.pool.Status(id)
		if err != nil {
			t.Fatalf("%s after restart: %v", id, err)
		}
		if m.Status != message.Sent && m.Status != message.Delivered {
			t.Errorf("%s after restart: %s", id, m.Status)
		}
	}
}

// batchSink takes the outbox's events in batches (BatchSink), slowly, so
// that they pile up; once it takes only part of a batch and fails.
type batchSink struct {
	mu      sync.Mutex
	next    *events
	sizes   []int
	failed  bool
	partial bool
}

func (b *batchSink) Status(ctx context.Context, ev message.StatusEvent) error {
	// As slow as a batch: events pile up behind a single one too (when
	// the first events came one at a time and this returned at once,
	// the outbox never had more than one ready and the test never saw a
	// batch — a flake since the batches were introduced).
	time.Sleep(20 * time.Millisecond)
	return b.next.Status(ctx, ev)
}

func (b *batchSink) StatusBatch(ctx context.Context, evs []message.StatusEvent) (int, error) {
	time.Sleep(20 * time.Millisecond)
	b.mu.Lock()
	b.sizes = append(b.sizes, len(evs))
	take := len(evs)
	var err error
	if !b.failed && len(evs) > 2 {
		b.failed, take, err = true, 1, fmt.Errorf("store busy")
	}
	if !store.SyncDeferred(ctx) {
		b.partial = true
	}
	b.mu.Unlock()
	for _, ev := range evs[:take] {
		if err := b.next.Status(ctx, ev); err != nil {
			return 0, err
		}
	}
	return take, err
}

// A Sink that takes batches gets the outbox's events several at a time
// (the campaign engine stores each batch in one transaction); a batch it
// took only in part is offered again from the first event it did not
// take, so every event arrives once and in order.
func TestStatusOutboxHandsOverBatches(t *testing.T) {
	t.Parallel()
	sink := &batchSink{next: newEvents()}
	h := newHarness(t, Config{Sink: sink, Channels: []config.SMSChannel{{Name: "main", Modems: []string{"a", "b"}}}})
	h.ev = sink.next
	h.attach(newFakeModem("a"))
	h.attach(newFakeModem("b"))
	h.run()
	all := msgs(30, "bt")
	h.enqueue(all...)
	var ids []string
	for _, m := range all {
		ids = append(ids, m.ID)
	}
	h.ev.final(t, ids...)
	st, _ := h.ev.snapshot()
	for _, id := range ids {
		tr := trail(st, id)
		if len(tr) != 2 || !strings.HasPrefix(tr[0], "sending@") || !strings.HasPrefix(tr[1], "sent@") {
			t.Fatalf("trail of %s = %v, want sending then sent, once each", id, tr)
		}
	}
	sink.mu.Lock()
	defer sink.mu.Unlock()
	if !sink.failed || slices.Max(sink.sizes) < 3 || sink.partial {
		t.Fatalf("batch sizes %v, a partial take happened: %v, offered without DeferSync: %v", sink.sizes, sink.failed, sink.partial)
	}
}

// A "sending" event is handed to the Sink from memory and never stored in
// the outbox (an outbox write and delete less per SMS); the events after
// it are stored. After a restart the stored ones are offered again, so
// the Sink still learns every final outcome.
func TestSendingEventNotStoredInOutbox(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Config{RetryBackoff: 100 * time.Millisecond, Channels: []config.SMSChannel{{Name: "main", Modems: []string{"a"}}}})
	h.ev.mu.Lock()
	h.ev.failNext = 1 << 30 // the Sink is down: events stay in the outbox
	h.ev.mu.Unlock()
	h.attach(newFakeModem("a"))
	h.run()
	all := msgs(3, "vo")
	h.enqueue(all...)
	deadline := time.Now().Add(waitLimit)
	for _, id := range ids(all) {
		for {
			m, err := h.pool.Status(id)
			if err != nil {
				t.Fatal(err)
			}
			if m.Status == message.Sent {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s is %s", id, m.Status)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	stored := map[message.Status]int{}
	if err := h.st.View(func(txn *store.Txn) error {
		return store.Each(txn, keyEvents, func(_ string, v []byte) error {
			var ev message.StatusEvent
			if err := store.UnmarshalFast(v, &ev); err != nil {
				return err
			}
			stored[ev.Status]++
			return nil
		})
	}); err != nil {
		t.Fatal(err)
	}
	if stored[message.Sending] != 0 || stored[message.Sent] != 3 {
		t.Fatalf("outbox holds %v, want 3 sent and no sending", stored)
	}
	h.stop()
	h.ev.mu.Lock()
	h.ev.failNext = 0
	h.ev.mu.Unlock()
	h.open()
	h.run()
	final := h.ev.final(t, ids(all)...)
	for _, id := range ids(all) {
		if final[id].Status != message.Sent {
			t.Fatalf("%s after restart: %+v", id, final[id])
		}
	}
}
