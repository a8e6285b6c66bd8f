package smspool

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pbxgate/pbxgate/gateway/campaign"
	"github.com/pbxgate/pbxgate/gateway/config"
	evroute "github.com/pbxgate/pbxgate/gateway/events"
	"github.com/pbxgate/pbxgate/gateway/message"
	"github.com/pbxgate/pbxgate/gateway/recipients"
	"github.com/pbxgate/pbxgate/gateway/store"
	"github.com/pbxgate/pbxgate/gateway/testkit"
)

// The tests in this file run the campaign engine on the pool with
// drivers/modem against simulated modems on real ptys, and judge by what
// the simulated SIMs put on the wire (modemsim's record of every accepted
// SMS-SUBMIT, 3GPP TS 27.005 AT+CMGS in PDU mode): the SIM scheduler of
// issue 14.

// engineSink hands the pool's status events to the campaign engine (as
// the daemon's router does) and to the harness's collector.
type engineSink struct {
	eng     atomic.Pointer[campaign.Engine]
	ev      *events
	observe Sink // benchmarks: counts instead of collecting
}

func (s *engineSink) Status(ctx context.Context, ev message.StatusEvent) error {
	if e := s.eng.Load(); e != nil {
		if err := e.HandleStatus(ctx, ev); err != nil && !errors.Is(err, campaign.ErrUnknownStatus) {
			return err
		}
	}
	if s.observe != nil {
		return s.observe.Status(ctx, ev)
	}
	return s.ev.Status(ctx, ev)
}

// StatusBatch hands a batch to the engine in one call (its group commit
// stores them in one transaction), as the daemon's router does.
func (s *engineSink) StatusBatch(ctx context.Context, evs []message.StatusEvent) (int, error) {
	if e := s.eng.Load(); e != nil {
		for i, err := range e.HandleStatuses(ctx, evs) {
			if err != nil && !errors.Is(err, campaign.ErrUnknownStatus) {
				return i, err
			}
		}
	}
	for i, ev := range evs {
		var err error
		if s.observe != nil {
			err = s.observe.Status(ctx, ev)
		} else {
			err = s.ev.Status(ctx, ev)
		}
		if err != nil {
			return i, err
		}
	}
	return len(evs), nil
}

// StatusTxn takes an event inside the pool's transaction where the engine
// can (HandleStatusTxn), as the daemon's router does (events.Router
// StatusTxn); the collector or observer sees it once that committed.
func (s *engineSink) StatusTxn(ctx context.Context, txn *store.Txn, ev message.StatusEvent) (bool, func(bool), error) {
	var done func(bool)
	if e := s.eng.Load(); e != nil {
		d, err := e.HandleStatusTxn(ctx, txn, ev)
		switch {
		case errors.Is(err, evroute.ErrNotInTxn):
			return false, nil, nil
		case err != nil && !errors.Is(err, campaign.ErrUnknownStatus):
			return false, nil, err
		}
		done = d
	}
	return true, func(committed bool) {
		if done != nil {
			done(committed)
		}
		if !committed {
			return
		}
		if s.observe != nil {
			_ = s.observe.Status(ctx, ev)
			return
		}
		_ = s.ev.Status(ctx, ev)
	}, nil
}

// schedRig is a pool on simulated SIMs with a campaign engine on top.
type schedRig struct {
	t   testing.TB
	h   *harness
	r   *simRig
	eng *campaign.Engine
	ch  *SMSChannel
}

func newSchedRig(t testing.TB, sims []string, latency time.Duration) *schedRig {
	return newSchedRigSync(t, sims, latency, false, nil)
}

// newSchedRigSync is newSchedRig with sync_writes and an extra status
// observer (nil: none).
func newSchedRigSync(t testing.TB, sims []string, latency time.Duration, syncWrites bool, observe Sink) *schedRig {
	t.Helper()
	return newSchedRigPaths(t, sims, latency, syncWrites, observe, nil)
}

// newSchedRigPaths is newSchedRigSync on modems simulated elsewhere when
// paths (pty per SIM name) is set.
func newSchedRigPaths(t testing.TB, sims []string, latency time.Duration, syncWrites bool, observe Sink, paths map[string]string, opts ...func(*Config)) *schedRig {
	t.Helper()
	sink := &engineSink{ev: newEvents(), observe: observe}
	cfg := Config{Sink: sink, Channels: []config.SMSChannel{{Name: "main", Modems: sims}}}
	for _, o := range opts {
		o(&cfg)
	}
	h := newHarness(t, cfg)
	h.ev = sink.ev
	if syncWrites {
		h.stop()
		h.syncWrites = true
		h.open()
	}
	// Generous driver timeouts: a loaded CI machine must not turn a slow
	// AT+CMGS answer into an "unknown" message.
	r := newSimRig(t, h, sims, simOpts{latency: latency, timeout: 30 * time.Second, storage: 255, paths: paths})
	ch, err := h.pool.Channel("main")
	if err != nil {
		t.Fatal(err)
	}
	eng, err := campaign.New(campaign.Config{Store: h.st, Channels: map[string]campaign.Channel{"main": ch}, Region: "DE", Logger: testkit.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	sink.eng.Store(eng)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- eng.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	r.attachAll()
	h.run()
	return &schedRig{t: t, h: h, r: r, eng: eng, ch: ch}
}

// campaignOf creates and starts a campaign of n recipients whose texts
// start with tag.
func (s *schedRig) campaignOf(name, tag string, n int) campaign.Campaign {
	s.t.Helper()
	rs := make([]recipients.Recipient, n)
	for i := range rs {
		rs[i] = recipients.Recipient{Number: fmt.Sprintf("+4915%s%06d", tagDigits(tag), i), Vars: map[string]string{"n": fmt.Sprint(i)}}
	}
	c, err := s.eng.Create(context.Background(), campaign.Spec{Name: name, Channel: "main",
		Content: campaign.Content{Text: tag + " {{n}}"}, When: campaign.When{Kind: "now"}}, rs)
	if err != nil {
		s.t.Fatal(err)
	}
	return c
}

func tagDigits(tag string) string {
	if tag == "B" {
		return "122"
	}
	return "112"
}

// wire is what every SIM sent, oldest first.
func (s *schedRig) wire() map[string][]string {
	out := map[string][]string{}
	for n, m := range s.r.sims {
		for _, sm := range m.Sent() {
			out[n] = append(out[n], sm.Text)
		}
	}
	return out
}

func countPrefix(texts []string, prefix string) int {
	n := 0
	for _, t := range texts {
		if strings.HasPrefix(t, prefix) {
			n++
		}
	}
	return n
}

func (s *schedRig) get(id string) campaign.Campaign {
	s.t.Helper()
	c, err := s.eng.Get(context.Background(), id)
	if err != nil {
		s.t.Fatal(err)
	}
	return c
}

// waitCampaign waits (generously) until cond holds for campaign id.
func (s *schedRig) waitCampaign(id, what string, cond func(c campaign.Campaign) bool) campaign.Campaign {
	s.t.Helper()
	deadline := time.After(60 * time.Second)
	for {
		ch := s.eng.Changes()
		c := s.get(id)
		if cond(c) {
			return c
		}
		select {
		case <-ch:
		case <-time.After(50 * time.Millisecond): // the wire changes without a campaign change
		case <-deadline:
			s.t.Fatalf("timed out waiting for %s: %+v", what, c.Counts)
		}
	}
}

// waitWire waits until cond holds for the wire.
func (s *schedRig) waitWire(what string, cond func(w map[string][]string) bool) {
	s.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond(s.wire()) {
		if time.Now().After(deadline) {
			s.t.Fatalf("timed out waiting for %s on the wire", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// quiet waits until no SIM is sending and nothing is queued in the pool.
func (s *schedRig) quiet() {
	s.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		idle := true
		for _, cs := range s.h.pool.ChannelStates() {
			if cs.Queued > 0 {
				idle = false
			}
			for _, sm := range cs.SIMs {
				if sm.Sending != "" {
					idle = false
				}
			}
		}
		if idle {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatal("pool never became idle")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A 1,000-recipient campaign on two SIMs with 1 s send latency; during it
// five interactive messages (the five kinds of issue 14, each enqueued
// in-process with the class their callers leave at its zero value: the
// SIP reply, portal reply, automatic answer, STOP confirmation and
// `pbxgate send` paths all end in Pool.Enqueue / SMSChannel.Send). On the
// wire each goes out before any further campaign SMS on its SIM: at most
// the one campaign SMS that SIM had already started precedes it. The pool
// never holds more than the campaign's window.
func TestSchedulerInteractiveBeforeCampaign(t *testing.T) {
	if testing.Short() {
		t.Skip("drives simulated modems at 1 s per SMS")
	}
	sims := []string{"gsm1", "gsm2"}
	s := newSchedRig(t, sims, time.Second)
	c := s.campaignOf("Sale", "A", 1000)
	kinds := []string{"sip-reply", "portal-reply", "auto-answer", "stop-confirmation", "pbxgate-send"}
	for i, kind := range kinds {
		// Let the campaign run: two more campaign SMS on the wire.
		before := 0
		for _, w := range s.wire() {
			before += countPrefix(w, "A ")
		}
		s.waitWire("campaign progress", func(w map[string][]string) bool {
			n := 0
			for _, x := range w {
				n += countPrefix(x, "A ")
			}
			return n >= before+2
		})
		if q := s.ch.State().Queued; q > campaign.WindowPerSender*len(sims) {
			t.Errorf("pool queue holds %d messages; the campaign may hand over at most %d", q, campaign.WindowPerSender*len(sims))
		}
		at := s.wire()
		text := fmt.Sprintf("%s %d", kind, i)
		if err := s.h.pool.Enqueue(context.Background(), message.Outbound{ID: kind, Channel: "main", To: "+4917612345678", Text: text}); err != nil {
			t.Fatal(err)
		}
		var sim string
		s.waitWire(text, func(w map[string][]string) bool {
			for n, x := range w {
				for _, tx := range x {
					if tx == text {
						sim = n
						return true
					}
				}
			}
			return false
		})
		w := s.wire()[sim]
		idx := -1
		for j, tx := range w {
			if tx == text {
				idx = j
			}
		}
		if ahead := idx - len(at[sim]); ahead > 1 {
			t.Errorf("%s went out on %s after %d campaign SMS that were not yet started when it was queued (at most 1, the one inside AT+CMGS): %q",
				kind, sim, ahead, w[len(at[sim]):idx])
		}
	}
	c, err := s.eng.Stop(context.Background(), c.ID, "")
	if err != nil {
		t.Fatal(err)
	}
	s.quiet()
	s.waitCampaign(c.ID, "no recipient left in the channel after Stop", func(c campaign.Campaign) bool { return c.Counts.Sending == 0 })
}

// Stop at random moments, ten times: after Stop returned, at most one
// campaign SMS per SIM (the one inside AT+CMGS) reaches the wire; Resume
// sends every recipient exactly once in the end.
func TestSchedulerStopStopsAndResumeSendsOnce(t *testing.T) {
	sims := []string{"gsm1", "gsm2"}
	s := newSchedRig(t, sims, 20*time.Millisecond)
	const n = 200
	c := s.campaignOf("Stops", "A", n)
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 2))
	ctx := context.Background()
	for round := range 10 {
		time.Sleep(time.Duration(rng.IntN(150)) * time.Millisecond) // a random moment of the campaign
		got, err := s.eng.Stop(ctx, c.ID, "")
		if errors.Is(err, campaign.ErrTransition) {
			break // completed already
		}
		if err != nil {
			t.Fatal(err)
		}
		at := s.wire()
		s.quiet()
		after := s.wire()
		for _, sim := range sims {
			if extra := countPrefix(after[sim], "A ") - countPrefix(at[sim], "A "); extra > 1 {
				t.Errorf("round %d: %d campaign SMS left %s after Stop returned (at most 1)", round, extra, sim)
			}
		}
		// The last SMS's report reaches the campaign; nothing stays in
		// the channel.
		cur := s.waitCampaign(c.ID, "reports after the stop", func(c campaign.Campaign) bool { return c.Counts.Sending == 0 })
		if cur.State != campaign.Stopped || got.State != campaign.Stopped {
			t.Errorf("round %d: stopped campaign is %s", round, cur.State)
		}
		if _, err := s.eng.Resume(ctx, c.ID); err != nil {
			t.Fatal(err)
		}
	}
	final := s.waitCampaign(c.ID, "completion", func(c campaign.Campaign) bool { return c.State == campaign.Completed })
	if done := final.Counts.Sent + final.Counts.Delivered; done != n {
		t.Errorf("completed with %+v, want %d sent", final.Counts, n)
	}
	s.quiet()
	seen := map[string]int{}
	for _, w := range s.wire() {
		for _, tx := range w {
			seen[tx]++
		}
	}
	for i := range n {
		if k := seen[fmt.Sprintf("A %d", i)]; k != 1 {
			t.Errorf("recipient %d sent %d times", i, k)
		}
	}
}

// Two campaigns on one channel: the second is pending while the first
// sends and none of its SMS is on the wire; once it shows running, the
// wire carries its SMS (the first one's leftovers are at most one per SIM);
// each completes with the wire holding each of its recipients once.
func TestSchedulerTwoCampaignsStatesMatchWire(t *testing.T) {
	sims := []string{"gsm1", "gsm2"}
	s := newSchedRig(t, sims, 20*time.Millisecond)
	a := s.campaignOf("First", "A", 60)
	b := s.campaignOf("Second", "B", 10)
	if b.State != campaign.Pending {
		t.Fatalf("second campaign %s, want pending", b.State)
	}
	// While the first runs, the second is pending and silent on the wire.
	s.waitCampaign(a.ID, "first campaign half-way", func(c campaign.Campaign) bool {
		if s.get(b.ID).State == campaign.Pending {
			for sim, w := range s.wire() {
				if k := countPrefix(w, "B "); k > 0 {
					t.Fatalf("second campaign pending but %d of its SMS on %s", k, sim)
				}
			}
		}
		return c.Counts.Sent+c.Counts.Delivered >= 30
	})
	// Honest progress: the rate measured from the reports, the end
	// foreseen from the SIMs, the remaining recipients from the counts.
	p, err := s.eng.Progress(context.Background(), a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if cur := s.get(a.ID); p.RatePerMinute <= 0 || p.ETA.Before(time.Now()) || p.Remaining <= 0 || p.Remaining > cur.Counts.Queued+cur.Counts.Sending+2 {
		t.Errorf("progress %+v with counts %+v", p, cur.Counts)
	}
	if _, err := s.eng.Stop(context.Background(), a.ID, ""); err != nil {
		t.Fatal(err)
	}
	atStop := s.wire()
	s.waitCampaign(b.ID, "second campaign running", func(c campaign.Campaign) bool { return c.State == campaign.Running || c.State == campaign.Completed })
	s.waitCampaign(b.ID, "second campaign completed", func(c campaign.Campaign) bool { return c.State == campaign.Completed })
	s.quiet()
	w := s.wire()
	for _, sim := range sims {
		if extra := countPrefix(w[sim], "A ") - countPrefix(atStop[sim], "A "); extra > 1 {
			t.Errorf("%d SMS of the stopped first campaign left %s while the second one ran", extra, sim)
		}
	}
	total := 0
	for _, x := range w {
		total += countPrefix(x, "B ")
	}
	if total != 10 {
		t.Errorf("second campaign: %d SMS on the wire, want 10", total)
	}
	// The first resumes and completes; its SMS each went out once.
	if _, err := s.eng.Resume(context.Background(), a.ID); err != nil {
		t.Fatal(err)
	}
	s.waitCampaign(a.ID, "first campaign completed", func(c campaign.Campaign) bool { return c.State == campaign.Completed })
	s.quiet()
	seen := map[string]int{}
	for _, x := range s.wire() {
		for _, tx := range x {
			seen[tx]++
		}
	}
	for i := range 60 {
		if seen[fmt.Sprintf("A %d", i)] != 1 {
			t.Errorf("first campaign recipient %d on the wire %d times", i, seen[fmt.Sprintf("A %d", i)])
		}
	}
}

// Interactive messages go before bulk ones on a SIM, whatever was queued
// first; within a class the order of arrival is kept; and a bulk backlog
// queued before a pool restart keeps its class.
func TestInteractiveBeforeBulk(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Config{Channels: []config.SMSChannel{{Name: "main", Modems: []string{"a"}}}})
	bulk := msgs(5, "bulk")
	for i := range bulk {
		bulk[i].Class = message.Bulk
	}
	h.enqueue(bulk...)
	h.stop() // restart: the queue is loaded from the store with its classes
	h.open()
	m := newFakeModem("a")
	gate := make(chan struct{})
	m.gate = gate
	h.attach(m)
	h.run()
	first := <-m.started // a bulk message is inside the modem
	inter := msgs(3, "reply")
	h.enqueue(inter...)
	m.mu.Lock()
	m.gate = nil
	m.mu.Unlock()
	close(gate)
	h.ev.final(t, append(ids(bulk), ids(inter)...)...)
	want := []string{first, "text reply-000", "text reply-001", "text reply-002"}
	for _, b := range bulk {
		if "text "+b.ID != first {
			want = append(want, "text "+b.ID)
		}
	}
	if got := m.sentTexts(); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("sent %q, want %q", got, want)
	}
}

// Withdraw takes back queued messages: they are stored and reported as
// failed with code withdrawn and never sent; the message a SIM has claimed
// is not taken back and is sent; unknown IDs are ignored.
func TestWithdraw(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Config{Channels: []config.SMSChannel{{Name: "main", Modems: []string{"a"}}}})
	m := newFakeModem("a")
	gate := make(chan struct{})
	m.gate = gate
	h.attach(m)
	batch := msgs(4, "w")
	h.enqueue(batch...)
	h.run()
	first := <-m.started
	ch, err := h.pool.Channel("main")
	if err != nil {
		t.Fatal(err)
	}
	got, err := ch.Withdraw(context.Background(), append(ids(batch), "nope"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, ",") != "w-001,w-002,w-003" || first != "text w-000" {
		t.Fatalf("withdrew %v while %q was in the modem", got, first)
	}
	if q := ch.State().Queued; q != 0 {
		t.Errorf("%d still queued", q)
	}
	close(gate)
	final := h.ev.final(t, ids(batch)...)
	if final["w-000"].Status != message.Sent {
		t.Errorf("claimed message %+v", final["w-000"])
	}
	for _, id := range got {
		ev := final[id]
		if ev.Status != message.Failed || ev.Code != message.CodeWithdrawn || ev.ReasonCode.Code != "sms.withdrawn" {
			t.Errorf("withdrawn %s reported %+v", id, ev)
		}
		if st, err := h.pool.Status(id); err != nil || st.Status != message.Failed {
			t.Errorf("withdrawn %s stored %+v %v", id, st, err)
		}
	}
	if s := m.sentTexts(); len(s) != 1 {
		t.Errorf("modem sent %q", s)
	}
	// A second withdrawal finds nothing.
	if again, err := ch.Withdraw(context.Background(), ids(batch)); err != nil || len(again) != 0 {
		t.Errorf("second withdraw %v %v", again, err)
	}
}

// Forecast plays the SIMs' pacing forward: with both SIMs at their daily
// cap at 21:00 and quiet hours 22:00-07:00, sending continues tomorrow at
// 07:00 ("daily cap reached"), and 6 more messages at 2 per SIM and day
// take until the day after tomorrow.
func TestForecastCapsAndQuietHours(t *testing.T) {
	t.Parallel()
	loc := time.FixedZone("CET", 3600)
	clk := newClock(time.Date(2026, 11, 21, 21, 0, 0, 0, loc))
	h := newHarness(t, Config{
		Channels: []config.SMSChannel{{Name: "main", Modems: []string{"a", "b"}}},
		Pacing: map[string]config.Pacing{
			"a": {DailyCap: 2, QuietHours: "22:00-07:00"},
			"b": {DailyCap: 2, QuietHours: "22:00-07:00"},
		},
		Location: loc, Now: clk.Now,
	})
	h.attach(newFakeModem("a"), newFakeModem("b"))
	ch, err := h.pool.Channel("main")
	if err != nil {
		t.Fatal(err)
	}
	if f := ch.Forecast(4); !f.ResumeAt.IsZero() || f.Finish.After(clk.Now().Add(time.Hour)) {
		t.Errorf("before the caps: %+v", f)
	}
	batch := msgs(4, "fc")
	h.enqueue(batch...)
	h.run()
	h.ev.final(t, ids(batch)...)
	f := ch.Forecast(6)
	tomorrow7 := time.Date(2026, 11, 22, 7, 0, 0, 0, loc)
	if !f.ResumeAt.Equal(tomorrow7) || f.WaitCode.Code != "sms.wait_daily_cap" || f.Wait != "daily cap reached" {
		t.Errorf("wait %s %q %+v, want until %s for the daily cap", f.ResumeAt, f.Wait, f.WaitCode, tomorrow7)
	}
	// 2 SIMs × 2 per day: 4 tomorrow from 07:00, 2 the day after.
	if day := f.Finish.In(loc); day.Day() != 23 || day.Hour() != 7 {
		t.Errorf("finish %s, want 2026-11-23 07:00 and a few seconds", f.Finish)
	}
	if f := ch.Forecast(0); !f.Finish.IsZero() {
		t.Errorf("nothing to send: %+v", f)
	}
}
