package smspool

import (
	"errors"
	"testing"
	"time"

	"github.com/pbxgate/pbxgate/gateway/config"
	"github.com/pbxgate/pbxgate/gateway/testkit"
)

// A SIM's pacing changed while the pool runs applies at once and keeps
// what the SIM already sent today: raising the cap sends exactly the
// difference, lowering it below the count blocks at once, quiet hours set
// now hold the queue back, and removing them lets it go.
func TestSetPacingLiveKeepsCounters(t *testing.T) {
	t.Parallel()
	loc := time.FixedZone("CET", 3600)
	clk := newClock(time.Date(2026, 11, 21, 10, 0, 0, 0, loc))
	h := newHarness(t, Config{
		Channels: []config.SMSChannel{{Name: "main", Modems: []string{"a"}}},
		Pacing:   map[string]config.Pacing{"a": {DailyCap: 2, MonthlyCap: 100}},
		Location: loc, Now: clk.Now,
	})
	a := newFakeModem("a")
	h.attach(a)
	batch := msgs(6, "live")
	h.enqueue(batch...)
	h.run()
	h.ev.final(t, "live-000", "live-001")
	sim := func() SIMState {
		for _, s := range h.pool.SIMStates() {
			if s.Name == "a" {
				return s
			}
		}
		t.Fatal("no SIM a")
		return SIMState{}
	}
	testkit.Eventually(t, "daily cap 2/2", func() bool { return sim().Blocked == "daily cap reached (2/2)" })

	// Raise the cap: two more, not four (the two sent still count).
	if err := h.pool.SetPacing("a", config.Pacing{DailyCap: 4, MonthlyCap: 100}); err != nil {
		t.Fatal(err)
	}
	h.ev.final(t, "live-002", "live-003")
	testkit.Eventually(t, "daily cap 4/4", func() bool { return sim().Blocked == "daily cap reached (4/4)" })
	if n := len(a.sentTexts()); n != 4 {
		t.Fatalf("sent %d after raising the cap to 4, want 4", n)
	}
	if s := sim(); s.SentToday != 4 || s.SentMonth != 4 || s.DailyCap != 4 || s.MonthlyCap != 100 {
		t.Fatalf("after raising the cap: %+v", s)
	}
	if got, ok := h.pool.Pacing("a"); !ok || got.DailyCap != 4 {
		t.Fatalf("Pacing(a) = %+v %v", got, ok)
	}

	// Lower it below what was sent: blocked at once, counters untouched.
	if err := h.pool.SetPacing("a", config.Pacing{DailyCap: 1}); err != nil {
		t.Fatal(err)
	}
	if s := sim(); s.Blocked != "daily cap reached (4/1)" || s.SentToday != 4 {
		t.Fatalf("after lowering the cap: %+v", s)
	}

	// No cap but quiet hours around now: still nothing goes out.
	if err := h.pool.SetPacing("a", config.Pacing{QuietHours: "09:00-11:00"}); err != nil {
		t.Fatal(err)
	}
	if s := sim(); s.Blocked != "quiet hours until 11:00" {
		t.Fatalf("quiet hours: %+v", s)
	}
	if cs := h.pool.ChannelStates()[0]; cs.Queued != 2 {
		t.Fatalf("queued during quiet hours: %+v", cs)
	}
	if n := len(a.sentTexts()); n != 4 {
		t.Fatalf("sent %d during quiet hours", n)
	}

	// Bad pacing is refused and the running one stays.
	if err := h.pool.SetPacing("a", config.Pacing{QuietHours: "22:00-22:00"}); err == nil {
		t.Fatal("quiet hours of zero length accepted")
	}
	if err := h.pool.SetPacing("a", config.Pacing{DelayMin: 2 * time.Second, DelayMax: time.Second}); err == nil {
		t.Fatal("delay_max below delay_min accepted")
	}
	if err := h.pool.SetPacing("nope", config.Pacing{}); !errors.Is(err, ErrUnknownSIM) {
		t.Fatalf("unknown SIM: %v", err)
	}
	if got, _ := h.pool.Pacing("a"); got.QuietHours != "09:00-11:00" {
		t.Fatalf("a refused change replaced the pacing: %+v", got)
	}

	// Lifted: the rest goes out and the count continues from 4.
	if err := h.pool.SetPacing("a", config.Pacing{}); err != nil {
		t.Fatal(err)
	}
	h.ev.final(t, ids(batch)...)
	if s := sim(); s.SentToday != 6 || s.Blocked != "" {
		t.Fatalf("after lifting: %+v", s)
	}
}
