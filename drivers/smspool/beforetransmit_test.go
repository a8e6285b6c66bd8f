package smspool

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/pbxgate/pbxgate/gateway/message"
)

// TestBeforeTransmitKeepsRefusedOffTheModem: the pool asks BeforeTransmit
// right before a SIM transmits; a refused message fails with the hook's
// reason and never reaches the modem, an allowed one is sent.
func TestBeforeTransmitKeepsRefusedOffTheModem(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var asked []string
	refuse := errors.New("claimed by another box")
	h := newHarness(t, Config{BeforeTransmit: func(_ context.Context, id string) error {
		mu.Lock()
		asked = append(asked, id)
		mu.Unlock()
		if id == "no" {
			return refuse
		}
		return nil
	}})
	ctx := context.Background()
	for _, id := range []string{"yes", "no"} {
		if err := h.pool.Enqueue(ctx, message.Outbound{ID: id, Channel: "main", To: "+4915112345678", Text: "text " + id}); err != nil {
			t.Fatal(err)
		}
	}
	m := newFakeModem("a")
	h.attach(m)
	h.run()
	final := h.ev.final(t, "yes", "no")
	if final["yes"].Status != message.Sent {
		t.Errorf("allowed message: %+v", final["yes"])
	}
	if ev := final["no"]; ev.Status != message.Failed || !strings.Contains(ev.Reason, refuse.Error()) {
		t.Errorf("refused message: %+v; want failed naming the hook's reason", ev)
	}
	if got := m.sentTexts(); len(got) != 1 || got[0] != "text yes" {
		t.Errorf("modem transmitted %q; want only the allowed message", got)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(asked) != 2 {
		t.Errorf("asked for %v; want each message once", asked)
	}
}
