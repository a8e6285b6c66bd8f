package smspool

import (
	"context"
	"fmt"
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
