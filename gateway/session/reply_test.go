package session

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/pbxgate/pbxgate/gateway/message"
	"github.com/pbxgate/pbxgate/gateway/store"
)

// stuckSender takes nothing until its context ends (a channel that is
// busy for longer than the SIP answer may wait).
type stuckSender struct{ calls chan message.Outbound }

func (s stuckSender) Send(ctx context.Context, out message.Outbound) error {
	s.calls <- out
	<-ctx.Done()
	return ctx.Err()
}

func pendingCount(t *testing.T, st *store.Store) int {
	t.Helper()
	n := 0
	if err := st.View(func(txn *store.Txn) error {
		return store.Each(txn, keyPending, func(string, []byte) error { n++; return nil })
	}); err != nil {
		t.Fatal(err)
	}
	return n
}

// An extension's reply counts as taken once it is stored: FromExtension
// returns while the channel is still busy, and a restart before the
// channel took it hands it over then — once.
func TestReplyStoredBeforeChannelTakesIt(t *testing.T) {
	h := newHarness(t, Target{Kind: ToExtension, ID: "201"})
	h.inbound("sms", alice, "Hallo")
	stuck := stuckSender{calls: make(chan message.Outbound, 1)}
	h.cfg.Channels[0].Sender = stuck
	h.st.Close()
	h.open()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.m.Run(ctx) }()
	for h.m.runCtx.Load() == nil {
		time.Sleep(time.Millisecond) // until Run started
	}
	if err := h.m.FromExtension(context.Background(), "201", alice, "Gleich erledigt"); err != nil {
		t.Fatalf("stored reply refused: %v", err)
	}
	got := <-stuck.calls
	if pendingCount(t, h.st) != 1 {
		t.Fatal("reply is not stored for hand-over while the channel is busy")
	}
	cancel() // shutdown before the channel took it
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if pendingCount(t, h.st) != 1 {
		t.Fatal("an interrupted hand-over must stay stored")
	}
	h.cfg.Channels[0].Sender = h.out
	h.st.Close()
	h.open()
	ctx2, cancel2 := context.WithCancel(context.Background())
	go func() { done <- h.m.Run(ctx2) }()
	deadline := time.Now().Add(10 * time.Second) // failure guard only
	for pendingCount(t, h.st) != 0 {
		if time.Now().After(deadline) {
			t.Fatal("stored reply not handed over after the restart")
		}
		time.Sleep(5 * time.Millisecond) // polling a state; the deadline guards
	}
	cancel2()
	<-done
	sent := h.out.all()
	if len(sent) != 1 || sent[0].ID != got.ID || sent[0].Text != "Gleich erledigt" || sent[0].To != alice {
		t.Fatalf("channel got %+v, want the reply %s once", sent, got.ID)
	}
}

// A caller that closed the gate before the reply was stored gets ErrBusy
// and nothing is stored or sent; one whose gate was entered cannot close
// it any more.
func TestGateClosedStoresNothing(t *testing.T) {
	h := newHarness(t, Target{Kind: ToExtension, ID: "201"})
	h.inbound("sms", alice, "Hallo")
	s := h.only("")
	g := &Gate{}
	if !g.Close() {
		t.Fatal("fresh gate did not close")
	}
	if err := h.m.FromExtension(WithGate(context.Background(), g), "201", alice, "zu spät"); !errors.Is(err, ErrBusy) {
		t.Fatalf("closed gate: %v, want ErrBusy", err)
	}
	log, _ := h.m.Log(s.ID)
	if len(log) != 1 || len(h.out.all()) != 0 || pendingCount(t, h.st) != 0 {
		t.Fatalf("closed gate stored or sent something: log %+v, sent %+v", log, h.out.all())
	}
	g2 := &Gate{}
	if err := h.m.FromExtension(WithGate(context.Background(), g2), "201", alice, "rechtzeitig"); err != nil {
		t.Fatal(err)
	}
	if g2.Close() {
		t.Error("gate closed after the reply was stored")
	}
	if sent := h.out.all(); len(sent) != 1 || sent[0].Text != "rechtzeitig" {
		t.Fatalf("sent %+v", sent)
	}
}

// Replies from many extensions at once are stored together (group
// commit): each is in its session's log once, in a sequence without gaps
// or doubles, each reaches the channel once, and all of it is still there
// after a restart.
func TestConcurrentRepliesGroupCommitted(t *testing.T) {
	h := newHarness(t, Target{Kind: ToExtension, ID: "201"})
	h.cfg.DefaultChannel = "sms"
	h.st.Close()
	h.open()
	const contacts, each = 20, 10
	var wg sync.WaitGroup
	for c := range contacts {
		for i := range each {
			wg.Go(func() {
				if err := h.m.FromExtension(context.Background(), "201", fmt.Sprintf("+4917100%05d", c), fmt.Sprintf("r%d", i)); err != nil {
					t.Error(err)
				}
			})
		}
	}
	wg.Wait()
	check := func(when string) {
		ss, err := h.m.List(true, 0)
		if err != nil || len(ss) != contacts {
			t.Fatalf("%s: %d sessions (%v), want %d", when, len(ss), err, contacts)
		}
		for _, s := range ss {
			log, err := h.m.Log(s.ID)
			if err != nil || len(log) != each {
				t.Fatalf("%s: session %s has %d entries (%v), want %d", when, s.Contact, len(log), err, each)
			}
			texts := map[string]bool{}
			for i, e := range log {
				if e.Seq != log[0].Seq+i {
					t.Fatalf("%s: sequence %v", when, log)
				}
				texts[e.Text] = true
			}
			if len(texts) != each {
				t.Fatalf("%s: texts %v", when, texts)
			}
		}
	}
	check("after the replies")
	deadline := time.Now().Add(10 * time.Second) // failure guard only
	for len(h.out.all()) < contacts*each && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond) // hand-overs run in the background
	}
	ids := map[string]int{}
	for _, o := range h.out.all() {
		ids[o.ID]++
	}
	if len(ids) != contacts*each || len(h.out.all()) != contacts*each {
		t.Fatalf("channel got %d messages, %d distinct, want %d once each", len(h.out.all()), len(ids), contacts*each)
	}
	h.m.wg.Wait()
	h.st.Close()
	h.open()
	check("after a restart")
}

// A blank message from an extension is refused before anything is stored:
// no chat-log entry, nothing for the channel.
func TestBlankReplyRefused(t *testing.T) {
	h := newHarness(t, Target{Kind: ToExtension, ID: "201"})
	h.inbound("sms", alice, "Hallo")
	s := h.only("sms")
	for _, text := range []string{"", " \r\n\t"} {
		if err := h.m.FromExtension(context.Background(), "201", alice, text); !errors.Is(err, ErrEmptyReply) {
			t.Fatalf("blank reply %q: %v, want ErrEmptyReply", text, err)
		}
	}
	log, err := h.m.Log(s.ID)
	if err != nil || len(log) != 1 || len(h.out.all()) != 0 {
		t.Fatalf("blank replies left traces: log %+v (%v), sent %+v", log, err, h.out.all())
	}
}

// One thread per channel: the first channel is the plain thread, others
// are named; labels name the kind (or the channel when kinds repeat). A
// reply in a channel's thread goes out on that channel; a plain reply
// prefers the first channel even when another one was active later.
func TestThreadsPerChannel(t *testing.T) {
	threads, byThread, labels := threadsOf([]Channel{{Name: "sms", Kind: message.SMS}, {Name: "wa-main", Kind: message.WhatsApp}})
	if threads["sms"] != "" || threads["wa-main"] != "wa-main" || byThread["wa-main"] != "wa-main" || labels["sms"] != "SMS" || labels["wa-main"] != "WhatsApp" {
		t.Fatalf("threads %v, labels %v", threads, labels)
	}
	if _, _, labels := threadsOf([]Channel{{Name: "sms", Kind: message.SMS}}); len(labels) != 0 {
		t.Fatalf("one channel needs no label: %v", labels)
	}
	if _, _, labels := threadsOf([]Channel{{Name: "a", Kind: message.SMS}, {Name: "b", Kind: message.SMS}}); labels["a"] != "a" || labels["b"] != "b" {
		t.Fatalf("same kind: %v", labels)
	}

	h := newHarness(t, Target{Kind: ToExtension, ID: "201"})
	ctx := context.Background()
	h.inbound("sms", alice, "per SMS")
	h.clock.Add(time.Minute)
	h.inbound("wa", alice, "per WhatsApp")
	if err := h.m.FromExtensionThread(ctx, "201", alice, "wa", "Antwort WA"); err != nil {
		t.Fatal(err)
	}
	if err := h.m.FromExtension(ctx, "201", alice, "Antwort SMS"); err != nil {
		t.Fatal(err)
	}
	if err := h.m.FromExtensionThread(ctx, "201", alice, "nope", "x"); !errors.Is(err, ErrUnknownChannel) {
		t.Fatalf("unknown thread: %v", err)
	}
	got := map[string]string{}
	for _, o := range h.out.all() {
		got[o.Text] = o.Channel
	}
	if got["Antwort WA"] != "wa" || got["Antwort SMS"] != "sms" || len(got) != 2 {
		t.Fatalf("replies went out as %v", got)
	}
}
