package campaign

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/pbxgate/pbxgate/gateway/message"
)

// holdingChannel accepts messages without transmitting them (a modem
// pool whose SIMs are busy) and gives back on Withdraw the ones it holds;
// Transmit sends (reports sent) what it holds.
type holdingChannel struct {
	*testChannel
	mu   sync.Mutex
	held []message.Outbound
	cap  int
}

func (h *holdingChannel) Send(ctx context.Context, m message.Outbound) error {
	h.mu.Lock()
	h.held = append(h.held, m)
	h.mu.Unlock()
	return nil
}

func (h *holdingChannel) Capacity() int { return h.cap }

func (h *holdingChannel) Withdraw(_ context.Context, ids []string) ([]string, error) {
	want := map[string]bool{}
	for _, id := range ids {
		want[id] = true
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	keep := h.held[:0]
	for _, m := range h.held {
		if want[m.ID] {
			out = append(out, m.ID)
			continue
		}
		keep = append(keep, m)
	}
	h.held = keep
	return out, nil
}

// transmit reports every held message sent and forgets it.
func (h *holdingChannel) transmit(t *testing.T, e *Engine) []message.Outbound {
	t.Helper()
	h.mu.Lock()
	held := h.held
	h.held = nil
	h.mu.Unlock()
	for _, m := range held {
		if err := e.HandleStatus(bg, message.StatusEvent{ID: m.ID, Status: message.Sent}); err != nil {
			t.Fatal(err)
		}
	}
	return held
}

func (h *holdingChannel) holding() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.held)
}

// The dispatcher hands over only its window (WindowPerSender per ready
// sender), marks the messages bulk, and Stop withdraws what the channel
// has not started: those recipients are queued again, and after Resume
// they go out under new IDs, each recipient exactly once.
func TestPullWindowAndStopWithdraws(t *testing.T) {
	t.Parallel()
	ch := &holdingChannel{testChannel: newTestChannel("sms-1", newLedger()), cap: 2}
	ev := newEnv(t, "", Config{}, ch)
	c, err := ev.e.Create(bg, smsSpec("Pull", "sms-1", "now"), numbers(20))
	if err != nil {
		t.Fatal(err)
	}
	window := WindowPerSender * 2
	ev.waitFor("window handed over", func() bool { return ch.holding() == window })
	if got := ev.get(c.ID).Counts; got.Sending != window || got.Queued != 20-window {
		t.Fatalf("after the first window %+v", got)
	}
	// One report frees one slot, and only one.
	first := ch.transmit(t, ev.e)
	for _, m := range first {
		if m.Class != message.Bulk {
			t.Errorf("campaign message %s has class %s", m.ID, m.Class)
		}
	}
	ev.waitFor("window refilled", func() bool { return ch.holding() == window })
	got, err := ev.e.Stop(bg, c.ID, "")
	if err != nil {
		t.Fatal(err)
	}
	if ch.holding() != 0 || got.Counts.Sending != 0 || got.Counts.Sent != window || got.Counts.Queued != 20-window {
		t.Fatalf("after Stop: channel holds %d, counts %+v", ch.holding(), got.Counts)
	}
	withdrawn := 0
	for _, r := range ev.recipients(c.ID) {
		if r.Withdrawn > 0 {
			withdrawn++
			if r.Status != RQueued || r.MsgID != "" {
				t.Errorf("withdrawn recipient %+v", r)
			}
		}
	}
	if withdrawn != window {
		t.Errorf("%d recipients withdrawn, want %d", withdrawn, window)
	}
	if _, err := ev.e.Resume(bg, c.ID); err != nil {
		t.Fatal(err)
	}
	sent := map[string]int{}
	for _, m := range first {
		sent[m.To]++
	}
	newIDs := 0
	for ev.get(c.ID).State != Completed {
		ev.waitFor("more handed over", func() bool { return ch.holding() > 0 || ev.get(c.ID).State == Completed })
		for _, m := range ch.transmit(t, ev.e) {
			sent[m.To]++
			if strings.HasSuffix(m.ID, ".1") {
				newIDs++
			}
		}
	}
	if len(sent) != 20 {
		t.Errorf("%d recipients sent, want 20", len(sent))
	}
	for to, n := range sent {
		if n != 1 {
			t.Errorf("%s sent %d times", to, n)
		}
	}
	if newIDs != window {
		t.Errorf("%d hand-overs under a new ID, want %d", newIDs, window)
	}
}

// A channel's report that it withdrew a message (code withdrawn) puts the
// recipient back into the queue, as after a crash between the channel's
// withdrawal and the engine's own record of it; repeated it changes
// nothing.
func TestWithdrawnEventRequeues(t *testing.T) {
	t.Parallel()
	ch := &holdingChannel{testChannel: newTestChannel("sms-1", newLedger()), cap: 1}
	ev := newEnv(t, "", Config{}, ch)
	c, _ := ev.e.Create(bg, smsSpec("Ev", "sms-1", "now"), numbers(5))
	ev.waitFor("window handed over", func() bool { return ch.holding() == WindowPerSender })
	ch.mu.Lock()
	id := ch.held[0].ID
	ch.mu.Unlock()
	if _, err := ev.e.Stop(bg, c.ID, ""); err != nil {
		t.Fatal(err)
	}
	// Stop took everything back already; replay the channel's event for a
	// recipient as if the engine had crashed before recording it.
	for range 2 {
		if err := ev.e.HandleStatus(bg, message.StatusEvent{ID: id, Status: message.Failed, Code: message.CodeWithdrawn}); err != nil {
			t.Fatal(err)
		}
	}
	if got := ev.get(c.ID).Counts; got.Queued != 5 || got.Failed != 0 {
		t.Fatalf("counts %+v", got)
	}
	for _, r := range ev.recipients(c.ID) {
		if r.Withdrawn > 1 {
			t.Errorf("recipient %d withdrawn %d times", r.Seq, r.Withdrawn)
		}
	}
	// A recipient still "sending" under that ID (the crash case) goes back.
	if _, err := ev.e.Resume(bg, c.ID); err != nil {
		t.Fatal(err)
	}
	ev.waitFor("handed over again", func() bool { return ch.holding() == WindowPerSender })
	ch.mu.Lock()
	id = ch.held[0].ID
	ch.mu.Unlock()
	if err := ev.e.HandleStatus(bg, message.StatusEvent{ID: id, Status: message.Failed, Code: message.CodeWithdrawn}); err != nil {
		t.Fatal(err)
	}
	ev.waitFor("requeued by the event", func() bool {
		for _, r := range ev.recipients(c.ID) {
			if r.MsgID == id {
				return false
			}
		}
		return ev.get(c.ID).Counts.Failed == 0
	})
}
