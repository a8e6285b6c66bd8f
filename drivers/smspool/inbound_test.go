package smspool

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/pbxgate/pbxgate/gateway/config"
	"github.com/pbxgate/pbxgate/gateway/message"
	gsms "github.com/pbxgate/pbxgate/gateway/sms"
	"github.com/pbxgate/pbxgate/gateway/store"
	"github.com/pbxgate/pbxgate/gateway/testkit"
)

func inboundHarness(t *testing.T, cfg Config) *harness {
	cfg.Channels = []config.SMSChannel{{Name: "main", Modems: []string{"a"}}}
	h := newHarness(t, cfg)
	a := newFakeModem("a")
	a.number = "+4917000000001"
	h.attach(a)
	return h
}

func TestInboundSingleAndDuplicate(t *testing.T) {
	t.Parallel()
	h := inboundHarness(t, Config{})
	ctx := context.Background()
	pdus := deliverPDUs(t, gsms.NewEncoder(0), "+4915199999999", "Grüße 😀")
	if len(pdus) != 1 {
		t.Fatalf("%d parts", len(pdus))
	}
	// Stored before Run: nothing is lost while the daemon starts.
	for range 2 { // the same SMS seen as +CMT and again in SIM storage
		if err := h.pool.HandlePDU(ctx, "a", pdus[0]); err != nil {
			t.Fatal(err)
		}
	}
	h.run()
	h.ev.waitFor(t, "one inbound", func(_ []message.StatusEvent, in []message.Inbound) bool { return len(in) == 1 })
	if err := h.pool.HandlePDU(ctx, "a", pdus[0]); err != nil {
		t.Fatal(err)
	}
	// A different message marks the point by which a duplicate would have
	// shown up.
	other := deliverPDUs(t, gsms.NewEncoder(0), "+4915199999999", "second")
	if err := h.pool.HandlePDU(ctx, "a", other[0]); err != nil {
		t.Fatal(err)
	}
	h.ev.waitFor(t, "second inbound", func(_ []message.StatusEvent, in []message.Inbound) bool { return len(in) >= 2 })
	_, in := h.ev.snapshot()
	if len(in) != 2 {
		t.Fatalf("inbound = %+v, want 2 (duplicates dropped)", in)
	}
	got := in[0]
	if got.Text != "Grüße 😀" || got.From != "+4915199999999" || got.Channel != "main" ||
		got.Receiver != "+4917000000001" || got.Kind != message.SMS || got.ID == "" || got.At.IsZero() {
		t.Fatalf("inbound = %+v", got)
	}
	if in[1].Text != "second" || in[1].ID == got.ID {
		t.Fatalf("second = %+v", in[1])
	}
}

// Parts of a long SMS arrive out of order with a restart (pool and store
// closed) in between; the message is delivered once, complete.
func TestInboundReassemblyAcrossRestart(t *testing.T) {
	t.Parallel()
	h := inboundHarness(t, Config{})
	ctx := context.Background()
	text := strings.Repeat("Ünïcode ✓ and a long text. ", 12) // UCS-2, 5 parts
	pdus := deliverPDUs(t, gsms.NewEncoder(7), "+4915188888888", text)
	if len(pdus) < 4 {
		t.Fatalf("only %d parts", len(pdus))
	}
	h.run()
	order := []int{3, 0, 4}
	for _, i := range order {
		if err := h.pool.HandlePDU(ctx, "a", pdus[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.pool.HandlePDU(ctx, "a", pdus[0]); err != nil { // duplicate part
		t.Fatal(err)
	}
	h.stop()

	h.open()
	h.attach(newFakeModem("a"))
	h.run()
	for _, i := range []int{1, 2} {
		if err := h.pool.HandlePDU(ctx, "a", pdus[i]); err != nil {
			t.Fatal(err)
		}
	}
	h.ev.waitFor(t, "reassembled", func(_ []message.StatusEvent, in []message.Inbound) bool { return len(in) == 1 })
	// A late duplicate part after completion must not start a new message.
	if err := h.pool.HandlePDU(ctx, "a", pdus[4]); err != nil {
		t.Fatal(err)
	}
	marker := deliverPDUs(t, gsms.NewEncoder(0), "+4915188888888", "marker")
	if err := h.pool.HandlePDU(ctx, "a", marker[0]); err != nil {
		t.Fatal(err)
	}
	h.ev.waitFor(t, "marker", func(_ []message.StatusEvent, in []message.Inbound) bool { return len(in) >= 2 })
	_, in := h.ev.snapshot()
	if len(in) != 2 || in[0].Text != text || in[1].Text != "marker" {
		t.Fatalf("inbound = %+v", in)
	}
	if in[0].From != "+4915188888888" {
		t.Fatalf("from %q", in[0].From)
	}
}

// Parts that never complete are delivered after the timeout, with the gap
// marked, never dropped.
func TestInboundReassemblyTimeout(t *testing.T) {
	t.Parallel()
	clk := newClock(time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC))
	h := inboundHarness(t, Config{Now: clk.Now, ReassemblyTimeout: time.Hour})
	ctx := context.Background()
	text := strings.Repeat("abcdefghij", 40) // GSM-7, 3 parts
	pdus := deliverPDUs(t, gsms.NewEncoder(1), "+4915177777777", text)
	if len(pdus) != 3 {
		t.Fatalf("%d parts", len(pdus))
	}
	h.run()
	for _, i := range []int{2, 0} {
		if err := h.pool.HandlePDU(ctx, "a", pdus[i]); err != nil {
			t.Fatal(err)
		}
	}
	clk.Add(time.Hour)
	h.ev.waitFor(t, "incomplete delivered", func(_ []message.StatusEvent, in []message.Inbound) bool { return len(in) == 1 })
	_, in := h.ev.snapshot()
	p1, _ := gsms.DecodeDeliver(pdus[0])
	p3, _ := gsms.DecodeDeliver(pdus[2])
	want := p1.Text + "[part 2 of 3 missing]" + p3.Text
	if in[0].Text != want {
		t.Fatalf("text = %q, want %q", in[0].Text, want)
	}
}

// A sender reusing the reference of an unfinished message for a new one:
// the old one is delivered as it is, the new one starts fresh.
func TestInboundReferenceReused(t *testing.T) {
	t.Parallel()
	h := inboundHarness(t, Config{})
	ctx := context.Background()
	old := deliverPDUs(t, gsms.NewEncoder(4), "+4915166666666", strings.Repeat("old ", 50))
	nw := deliverPDUs(t, gsms.NewEncoder(4), "+4915166666666", strings.Repeat("new ", 50))
	h.run()
	for _, p := range [][]byte{old[0], nw[0], nw[1]} {
		if err := h.pool.HandlePDU(ctx, "a", p); err != nil {
			t.Fatal(err)
		}
	}
	h.ev.waitFor(t, "both", func(_ []message.StatusEvent, in []message.Inbound) bool { return len(in) == 2 })
	_, in := h.ev.snapshot()
	if !strings.HasSuffix(in[0].Text, "[part 2 of 2 missing]") || !strings.HasPrefix(in[0].Text, "old ") {
		t.Fatalf("old = %q", in[0].Text)
	}
	if in[1].Text != strings.Repeat("new ", 50) {
		t.Fatalf("new = %q", in[1].Text)
	}
}

// An undecodable PDU is kept (with its raw form) rather than left on the
// SIM or dropped; a status report PDU is routed to the report handling.
func TestInboundUndecodableAndStatusReportPDU(t *testing.T) {
	t.Parallel()
	h := inboundHarness(t, Config{})
	ctx := context.Background()
	h.run()
	if err := h.pool.HandlePDU(ctx, "a", []byte{0x04, 0x0b}); err != nil {
		t.Fatal(err)
	}
	h.ev.waitFor(t, "bad pdu", func(_ []message.StatusEvent, in []message.Inbound) bool { return len(in) == 1 })
	_, in := h.ev.snapshot()
	if !strings.Contains(in[0].Text, "could not decode") || !strings.Contains(in[0].Text, "040B") {
		t.Fatalf("text = %q", in[0].Text)
	}
	// SMS-STATUS-REPORT, MR 5, to +4915111, status 0x00.
	sr := []byte{0x06, 0x05, 0x07, 0x91, 0x94, 0x51, 0x11, 0xF1,
		0x62, 0x11, 0x12, 0x32, 0x95, 0x00, 0x00, 0x62, 0x11, 0x12, 0x32, 0x95, 0x00, 0x00, 0x00}
	if err := h.pool.HandlePDU(ctx, "a", sr); err != nil {
		t.Fatal(err)
	}
	// No message owns MR 5 yet: kept as an orphan for a send result.
	var n int
	if err := h.st.View(func(txn *Txn) error { n = storeCount(txn, keyOrphanSR); return nil }); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Fatalf("%d orphan reports, want 1", n)
	}
}

// A message the consumer keeps refusing stays stored and offered, without
// holding back the ones behind it.
func TestInboundRefusedDoesNotBlock(t *testing.T) {
	t.Parallel()
	h := inboundHarness(t, Config{})
	h.ev.refuseText = "poison"
	ctx := context.Background()
	enc := gsms.NewEncoder(0)
	for _, text := range []string{"poison", "after 1", "after 2"} {
		if err := h.pool.HandlePDU(ctx, "a", deliverPDUs(t, enc, "+4915155555555", text)[0]); err != nil {
			t.Fatal(err)
		}
	}
	h.run()
	h.ev.waitFor(t, "the others", func(_ []message.StatusEvent, in []message.Inbound) bool { return len(in) == 2 })
	h.ev.waitFor(t, "poison offered again", func([]message.StatusEvent, []message.Inbound) bool { return h.ev.refused > 3 })
	_, in := h.ev.snapshot()
	if in[0].Text != "after 1" || in[1].Text != "after 2" {
		t.Fatalf("inbound = %+v", in)
	}
	// Taken messages leave the inbox after the consumer returned; the
	// refused one stays.
	testkit.Eventually(t, "only the refused message left in the inbox", func() bool {
		n, err := h.inbox.Pending()
		if err != nil {
			t.Fatal(err)
		}
		return n == 1
	})
}

// Inbound SMS an older pbxgate left in the pool's own outbox (smsq/in/msg/)
// reach the gateway's inbox at the next start, in order, and leave the
// outbox.
func TestInboundOldOutboxMigrated(t *testing.T) {
	t.Parallel()
	h := inboundHarness(t, Config{})
	old := []message.Inbound{
		{ID: "sms-old1", Kind: message.SMS, Channel: "main", From: "+4915100000001", Text: "first"},
		{ID: "sms-old2", Kind: message.SMS, Channel: "main", From: "+4915100000002", Text: "second"},
	}
	if err := h.st.Update(func(txn *Txn) error {
		for i, in := range old {
			if err := store.SetJSON(txn, seqKey(keyInMsg, uint64(100+i)), in); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	h.run()
	h.ev.waitFor(t, "old messages", func(_ []message.StatusEvent, in []message.Inbound) bool { return len(in) == 2 })
	_, in := h.ev.snapshot()
	if in[0].Text != "first" || in[1].Text != "second" {
		t.Fatalf("inbound = %+v", in)
	}
	testkit.Eventually(t, "old outbox empty", func() bool {
		var n int
		if err := h.st.View(func(txn *Txn) error { n = storeCount(txn, keyInMsg); return nil }); err != nil {
			t.Fatal(err)
		}
		return n == 0
	})
}

// A long SMS whose parts were all stored when the daemon died, before it
// reached the inbox, is delivered at the next start (not only after the
// reassembly timeout), once.
func TestInboundCompleteGroupLeftByCrash(t *testing.T) {
	t.Parallel()
	h := inboundHarness(t, Config{ReassemblyTimeout: 24 * time.Hour})
	text := strings.Repeat("0123456789", 20) // GSM-7, 2 parts
	pdus := deliverPDUs(t, gsms.NewEncoder(9), "+4915188888888", text)
	if len(pdus) != 2 {
		t.Fatalf("%d parts", len(pdus))
	}
	// What handlePart commits before handing the message on.
	g := inGroup{SIM: "a", From: "+4915188888888", Ref: 10, Total: 2, FirstAt: time.Now()} // the encoder takes the reference after 9
	if d, err := gsms.DecodeDeliver(pdus[0]); err != nil || d.Ref != g.Ref {
		t.Fatalf("part 1: %+v, %v", d, err)
	}
	if err := h.st.Update(func(txn *Txn) error {
		if err := store.SetJSON(txn, keyInGroup+g.key(), g); err != nil {
			return err
		}
		for i, p := range pdus {
			if err := store.SetJSON(txn, partKey(g.key(), i+1), inPart{TPDU: p, Hash: pduHash("a", p)}); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	h.run()
	h.ev.waitFor(t, "reassembled message", func(_ []message.StatusEvent, in []message.Inbound) bool { return len(in) == 1 })
	_, in := h.ev.snapshot()
	if in[0].Text != text {
		t.Fatalf("text = %q", in[0].Text)
	}
}
