package smspool

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pbxgate/pbxgate/drivers/modem"
	"github.com/pbxgate/pbxgate/gateway/config"
	"github.com/pbxgate/pbxgate/gateway/message"
	gsms "github.com/pbxgate/pbxgate/gateway/sms"
	"github.com/pbxgate/pbxgate/gateway/store"
	"github.com/pbxgate/pbxgate/gateway/testkit"
)

func TestEnqueueValidatesAndIsIdempotent(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Config{})
	ctx := context.Background()
	good := message.Outbound{ID: "m1", Channel: "main", To: "+4915112345678", Text: "hello"}
	bad := []struct {
		msg  message.Outbound
		want error
	}{
		{message.Outbound{Channel: "main", To: "+49151", Text: "x"}, ErrInvalid},
		{message.Outbound{ID: "x", Channel: "nope", To: "+49151", Text: "x"}, ErrUnknownChannel},
		{message.Outbound{ID: "x", Channel: "main", To: "0151 abc", Text: "x"}, ErrInvalid},
		{message.Outbound{ID: "x", Channel: "main", To: "+49151", Text: ""}, ErrInvalid},
		{message.Outbound{ID: "x", Channel: "main", To: "+49151", Text: strings.Repeat("a", 1601)}, ErrInvalid},
		{message.Outbound{ID: "x", Channel: "main", To: "+49151", Text: "x", Sender: "zz"}, ErrUnknownSender},
	}
	for _, b := range bad {
		if err := h.pool.Enqueue(ctx, b.msg); !errors.Is(err, b.want) {
			t.Errorf("Enqueue(%+v) = %v, want %v", b.msg, err, b.want)
		}
	}
	for range 3 {
		if err := h.pool.Enqueue(ctx, good); err != nil {
			t.Fatal(err)
		}
	}
	// Empty channel is the only channel.
	if err := h.pool.Enqueue(ctx, message.Outbound{ID: "m2", To: "+49151", Text: "x"}); err != nil {
		t.Fatal(err)
	}
	if got := h.pool.ChannelStates()[0].Queued; got != 2 {
		t.Fatalf("queued = %d, want 2 (duplicates must not be queued)", got)
	}
	m := newFakeModem("a")
	h.attach(m)
	h.run()
	h.ev.final(t, "m1", "m2")
	if got := m.sentTexts(); len(got) != 2 {
		t.Fatalf("modem sent %q, want 2 messages", got)
	}
	// A sent ID is not queued again either.
	if err := h.pool.Enqueue(ctx, good); err != nil {
		t.Fatal(err)
	}
	if st, err := h.pool.Status("m1"); err != nil || st.Status != message.Sent || st.SIM != "a" {
		t.Fatalf("Status(m1) = %+v, %v", st, err)
	}
	if _, err := h.pool.Status("nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Status(nope) = %v, want ErrNotFound", err)
	}
	if q := h.pool.ChannelStates()[0].Queued; q != 0 {
		t.Fatalf("queued after re-enqueue of a sent ID = %d", q)
	}
}

// Every SIM of the channel works at the same time, and every message is
// sent exactly once.
func TestSpreadsAcrossSIMs(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Config{})
	gate := make(chan struct{})
	ms := []*fakeModem{newFakeModem("a"), newFakeModem("b"), newFakeModem("c")}
	for _, m := range ms {
		m.gate = gate
	}
	h.attach(ms...)
	batch := msgs(30, "s")
	h.enqueue(batch...)
	h.run()
	// All three modems take a message while none has finished.
	for _, m := range ms {
		select {
		case <-m.started:
		case <-time.After(waitLimit):
			t.Fatalf("modem %s never got work while the others were busy", m.name)
		}
	}
	for _, m := range ms {
		m.mu.Lock()
		m.gate = nil
		m.mu.Unlock()
	}
	close(gate)
	final := h.ev.final(t, ids(batch)...)
	seen := map[string]int{}
	for _, m := range ms {
		if len(m.sentTexts()) == 0 {
			t.Errorf("modem %s sent nothing", m.name)
		}
		for _, s := range m.sentTexts() {
			seen[s]++
		}
	}
	for _, msg := range batch {
		if seen[msg.Text] != 1 {
			t.Errorf("%s sent %d times", msg.ID, seen[msg.Text])
		}
		if final[msg.ID].Status != message.Sent {
			t.Errorf("%s: %+v", msg.ID, final[msg.ID])
		}
	}
	st, _ := h.ev.snapshot()
	if tr := trail(st, "s-000"); len(tr) != 2 || !strings.HasPrefix(tr[0], "sending@") || !strings.HasPrefix(tr[1], "sent@") {
		t.Errorf("trail of s-000 = %v, want sending then sent", tr)
	}
}

// A modem failing with a modem error hands its message to another SIM; a
// permanent error fails the message with the reason and code.
func TestFailoverAndPermanentFailure(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Config{Channels: []config.SMSChannel{{Name: "main", Modems: []string{"a", "b"}}}})
	a, b := newFakeModem("a"), newFakeModem("b")
	a.fail = func(_, text string) error {
		a.setReady(false) // like a modem that hung and is recovering
		return modemFault("modem offline")
	}
	b.fail = func(_, text string) error {
		if strings.Contains(text, "perm") {
			return cmsError(30)
		}
		return nil
	}
	h.attach(a)
	h.enqueue(message.Outbound{ID: "f1", Channel: "main", To: "+491", Text: "failover"})
	h.run()
	<-a.started
	h.ev.waitFor(t, "f1 back in the queue", func(st []message.StatusEvent, _ []message.Inbound) bool {
		return slices.Equal(trail(st, "f1"), []string{"sending@a", "queued"})
	})
	h.attach(b)
	h.enqueue(message.Outbound{ID: "p1", Channel: "main", To: "+491", Text: "perm"})
	final := h.ev.final(t, "f1", "p1")
	if f := final["f1"]; f.Status != message.Sent || f.Sender != "b" {
		t.Errorf("f1 = %+v, want sent by b", f)
	}
	if p := final["p1"]; p.Status != message.Failed || p.Code != "CMS 30" || !strings.Contains(p.Reason, "unknown subscriber") || p.Retryable {
		t.Errorf("p1 = %+v, want failed with CMS 30", p)
	}
	if p := final["p1"]; p.ReasonCode.Code != "cms.30" {
		t.Errorf("p1 reason code = %+v, want cms.30 for the portal's translation", p.ReasonCode)
	}
	if got := a.sentTexts(); len(got) != 0 {
		t.Errorf("a sent %q", got)
	}
	if got := b.sentTexts(); !slices.Equal(got, []string{"failover"}) {
		t.Errorf("b sent %q, want the failed-over message once", got)
	}
	st, _ := h.ev.snapshot()
	if tr := trail(st, "f1"); !slices.Equal(tr, []string{"sending@a", "queued", "sending@b", "sent@b"}) {
		t.Errorf("trail f1 = %v", tr)
	}
}

// A message every SIM keeps failing with retryable errors fails after
// MaxAttempts instead of looping for ever.
func TestGivesUpAfterMaxAttempts(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Config{MaxAttempts: 3, Channels: []config.SMSChannel{{Name: "main", Modems: []string{"a", "b"}}}})
	a, b := newFakeModem("a"), newFakeModem("b")
	congested := func(string, string) error { return cmsError(42) }
	a.fail, b.fail = congested, congested
	h.attach(a, b)
	h.enqueue(message.Outbound{ID: "c1", Channel: "main", To: "+491", Text: "x"})
	h.run()
	f := h.ev.final(t, "c1")["c1"]
	if f.Status != message.Failed || !f.Retryable || f.Code != "CMS 42" || !strings.Contains(f.Reason, "3 attempts") {
		t.Fatalf("c1 = %+v", f)
	}
	// "gave up after 3 attempts: network congestion" as code 3 around cms.42.
	if rc := f.ReasonCode; rc.Code != "sms.gave_up" || !slices.Equal(rc.Args, []string{"3"}) || rc.Cause == nil || rc.Cause.Code != "cms.42" {
		t.Fatalf("c1 reason code = %+v", rc)
	}
	st, _ := h.ev.snapshot()
	tr := trail(st, "c1")
	// Attempts alternate between the SIMs: a SIM that failed is not asked
	// again while another has not tried.
	var sims []string
	for _, s := range tr {
		if strings.HasPrefix(s, "sending@") {
			sims = append(sims, strings.TrimPrefix(s, "sending@"))
		}
	}
	if len(sims) != 3 || sims[0] == sims[1] {
		t.Fatalf("attempts on %v (trail %v), want 3 alternating", sims, tr)
	}
}

// A pinned message waits for its SIM while another SIM is idle.
func TestPinnedSenderWaits(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Config{Channels: []config.SMSChannel{{Name: "main", Modems: []string{"a", "b"}}}})
	a, b := newFakeModem("a"), newFakeModem("b")
	a.setReady(false)
	a.number = "+4917000000001"
	h.attach(a, b)
	h.run()
	h.enqueue(message.Outbound{ID: "pin", Channel: "main", Sender: "a", To: "+491", Text: "pinned"},
		message.Outbound{ID: "pinnum", Channel: "main", Sender: "004917000000001", To: "+491", Text: "pinned by number"},
		message.Outbound{ID: "free", Channel: "main", To: "+491", Text: "free"})
	// The free message, queued after the pinned ones, goes out on b.
	if f := h.ev.final(t, "free")["free"]; f.Sender != "b" {
		t.Fatalf("free = %+v", f)
	}
	cs := h.pool.ChannelStates()[0]
	if cs.Queued != 2 || cs.Blocked != "" {
		t.Fatalf("channel = %+v, want 2 queued and not blocked (b can send)", cs)
	}
	if got := b.sentTexts(); !slices.Equal(got, []string{"free"}) {
		t.Fatalf("b sent %q", got)
	}
	a.setReady(true)
	final := h.ev.final(t, "pin", "pinnum")
	if final["pin"].Sender != "a" || final["pinnum"].Sender != "a" {
		t.Fatalf("pinned = %+v", final)
	}
}

// Pinned to a SIM whose modem fails: it waits for that SIM rather than
// moving.
func TestPinnedNotMovedOnFailure(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Config{Channels: []config.SMSChannel{{Name: "main", Modems: []string{"a", "b"}}}})
	a, b := newFakeModem("a"), newFakeModem("b")
	fails := 1
	a.fail = func(string, string) error {
		if fails > 0 {
			fails--
			return modemFault("modem offline")
		}
		return nil
	}
	h.attach(a, b)
	h.enqueue(message.Outbound{ID: "pin", Channel: "main", Sender: "a", To: "+491", Text: "x"})
	h.run()
	if f := h.ev.final(t, "pin")["pin"]; f.Sender != "a" {
		t.Fatalf("pin = %+v", f)
	}
	if len(b.sentTexts()) != 0 {
		t.Fatal("pinned message went out on b")
	}
	st, _ := h.ev.snapshot()
	if tr := trail(st, "pin"); !slices.Equal(tr, []string{"sending@a", "queued", "sending@a", "sent@a"}) {
		t.Fatalf("trail = %v", tr)
	}
}

// Caps block SIMs; when all are blocked the channel says why and work
// waits until the next day.
func TestDailyCapBlocksChannel(t *testing.T) {
	t.Parallel()
	loc := time.FixedZone("CET", 3600)
	clk := newClock(time.Date(2026, 11, 21, 10, 0, 0, 0, loc))
	h := newHarness(t, Config{
		Channels: []config.SMSChannel{{Name: "main", Modems: []string{"a", "b"}}},
		Pacing:   map[string]config.Pacing{"a": {DailyCap: 2}, "b": {DailyCap: 1, MonthlyCap: 100}},
		Location: loc, Now: clk.Now,
	})
	a, b := newFakeModem("a"), newFakeModem("b")
	h.attach(a, b)
	batch := msgs(5, "cap")
	h.enqueue(batch...)
	h.run()
	h.ev.final(t, "cap-000", "cap-001", "cap-002")
	var cs ChannelState
	testkit.Eventually(t, "channel blocked by caps", func() bool {
		cs = h.pool.ChannelStates()[0]
		return cs.Blocked != ""
	})
	if cs.Blocked != "daily cap reached on all SIMs" || cs.Queued != 2 {
		t.Fatalf("channel = %+v", cs)
	}
	if s := cs.SIMs[0]; s.Name != "a" || s.SentToday != 2 || s.Blocked != "daily cap reached (2/2)" {
		t.Fatalf("sim a = %+v", s)
	}
	if len(a.sentTexts()) != 2 || len(b.sentTexts()) != 1 {
		t.Fatalf("sent a=%q b=%q", a.sentTexts(), b.sentTexts())
	}
	st, _ := h.ev.snapshot()
	for _, ev := range st {
		if ev.Status == message.Failed {
			t.Fatalf("capped message failed: %+v", ev)
		}
	}
	// The counters survive a restart: still blocked.
	h.stop()
	h.open()
	h.attach(a, b)
	if cs := h.pool.ChannelStates()[0]; cs.Blocked != "daily cap reached on all SIMs" || cs.Queued != 2 {
		t.Fatalf("after restart: %+v", cs)
	}
	h.run()
	// Local midnight resets the daily caps.
	clk.Set(time.Date(2026, 11, 22, 0, 0, 1, 0, loc))
	h.ev.final(t, ids(batch)...)
	if cs := h.pool.ChannelStates()[0]; cs.Queued != 0 {
		t.Fatalf("after midnight: %+v", cs)
	}
}

func TestQuietHoursAcrossMidnight(t *testing.T) {
	t.Parallel()
	loc := time.FixedZone("CET", 3600)
	clk := newClock(time.Date(2026, 11, 21, 23, 30, 0, 0, loc))
	h := newHarness(t, Config{
		Channels: []config.SMSChannel{{Name: "main", Modems: []string{"a"}}},
		Pacing:   map[string]config.Pacing{"a": {QuietHours: "22:00-07:00"}},
		Location: loc, Now: clk.Now,
	})
	a := newFakeModem("a")
	h.attach(a)
	h.enqueue(msgs(1, "q")...)
	h.run()
	if cs := h.pool.ChannelStates()[0]; cs.Blocked != "quiet hours on all SIMs (until 07:00)" {
		t.Fatalf("channel = %+v", cs)
	}
	clk.Set(time.Date(2026, 11, 22, 3, 0, 0, 0, loc)) // after midnight, still quiet
	clk.Set(time.Date(2026, 11, 22, 6, 59, 0, 0, loc))
	if cs := h.pool.ChannelStates()[0]; cs.Blocked == "" || cs.Queued != 1 {
		t.Fatalf("06:59: %+v", cs)
	}
	if len(a.sentTexts()) != 0 {
		t.Fatal("sent during quiet hours")
	}
	clk.Set(time.Date(2026, 11, 22, 7, 0, 0, 0, loc))
	h.ev.final(t, "q-000")
}

func TestQuietHoursUntil(t *testing.T) {
	t.Parallel()
	loc := time.FixedZone("X", 0)
	at := func(d, hh, mm int) time.Time { return time.Date(2026, 1, d, hh, mm, 0, 0, loc) }
	for _, tc := range []struct {
		window string
		now    time.Time
		want   time.Time
	}{
		{"22:00-07:00", at(1, 21, 59), time.Time{}},
		{"22:00-07:00", at(1, 22, 0), at(2, 7, 0)},
		{"22:00-07:00", at(1, 23, 59), at(2, 7, 0)},
		{"22:00-07:00", at(2, 0, 0), at(2, 7, 0)},
		{"22:00-07:00", at(2, 6, 59), at(2, 7, 0)},
		{"22:00-07:00", at(2, 7, 0), time.Time{}},
		{"12:00-13:30", at(1, 12, 0), at(1, 13, 30)},
		{"12:00-13:30", at(1, 13, 30), time.Time{}},
		{"12:00-13:30", at(1, 11, 0), time.Time{}},
	} {
		q, err := parseQuietHours(tc.window)
		if err != nil {
			t.Fatal(err)
		}
		if got := q.until(tc.now); !got.Equal(tc.want) {
			t.Errorf("%s at %s: until %s, want %s", tc.window, tc.now.Format("02 15:04"), got, tc.want)
		}
	}
	for _, bad := range []string{"22-07", "22:00-22:00", "25:00-07:00", "22:00"} {
		if _, err := parseQuietHours(bad); err == nil {
			t.Errorf("parseQuietHours(%q) accepted", bad)
		}
	}
}

// The per-minute rate and the random delay hold a SIM back between sends.
func TestPacerRateAndDelay(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	pc, err := newPacer(config.Pacing{PerMinute: 6}, 1)
	if err != nil {
		t.Fatal(err)
	}
	if w := pc.wait(now); w != 0 {
		t.Fatalf("first send waits %s", w)
	}
	pc.took(now, 1)
	if w := pc.wait(now); w != 10*time.Second {
		t.Fatalf("second send waits %s, want 10s at 6/min", w)
	}
	pc.took(now.Add(10*time.Second), 3) // a 3-part message takes 3 tokens
	if w := pc.wait(now.Add(10 * time.Second)); w != 30*time.Second {
		t.Fatalf("after 3 parts wait %s, want 30s", w)
	}
	pd, _ := newPacer(config.Pacing{DelayMin: 2 * time.Second, DelayMax: 4 * time.Second}, 7)
	for range 50 {
		pd.took(now, 1)
		if w := pd.wait(now); w < 2*time.Second || w > 4*time.Second {
			t.Fatalf("delay %s outside [2s,4s]", w)
		}
	}
}

// A crash after the modem took a message leaves it "sending"; on restart
// it becomes unknown and is not sent again. Queued messages resume.
func TestCrashWhileSendingBecomesUnknown(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Config{Channels: []config.SMSChannel{{Name: "main", Modems: []string{"a"}}}})
	a := newFakeModem("a")
	a.gate = make(chan struct{})
	h.attach(a)
	h.enqueue(msgs(3, "k")...)
	h.run()
	<-a.started // k-000 is with the modem
	h.ev.waitFor(t, "k-000 sending", func(st []message.StatusEvent, _ []message.Inbound) bool {
		return len(trail(st, "k-000")) == 1
	})
	// Crash: the store as it is on disk now is what a restart finds. A
	// backup taken at this moment is exactly that.
	var snap bytes.Buffer
	if _, err := h.st.Backup(&snap); err != nil {
		t.Fatal(err)
	}
	close(a.gate)
	h.stop()
	h.dir = t.TempDir()
	if err := store.Restore(context.Background(), h.dir, &snap, testkit.Logger()); err != nil {
		t.Fatal(err)
	}

	h.ev = newEvents()
	h.cfg.Sink = h.ev
	h.open()
	b := newFakeModem("a")
	h.attach(b)
	h.run()
	final := h.ev.final(t, "k-000", "k-001", "k-002")
	if k := final["k-000"]; k.Status != message.Unknown || !strings.Contains(k.Reason, "may have gone out") {
		t.Fatalf("k-000 = %+v", k)
	}
	if got := b.sentTexts(); !slices.Equal(got, []string{"text k-001", "text k-002"}) {
		t.Fatalf("after restart sent %q", got)
	}
}

// A restart resumes the queue; events the sink refused are offered again.
func TestRestartResumesQueueAndRetriesSink(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Config{Channels: []config.SMSChannel{{Name: "main", Modems: []string{"a"}}}})
	h.enqueue(msgs(2, "r")...)
	h.stop()
	h.open()
	h.ev.mu.Lock()
	h.ev.failNext = 2
	h.ev.mu.Unlock()
	a := newFakeModem("a")
	h.attach(a)
	h.run()
	final := h.ev.final(t, "r-000", "r-001")
	if final["r-000"].Status != message.Sent || final["r-001"].Status != message.Sent {
		t.Fatalf("final %+v", final)
	}
	st, _ := h.ev.snapshot()
	if tr := trail(st, "r-000"); !slices.Equal(tr, []string{"sending@a", "sent@a"}) {
		t.Fatalf("trail after sink failures = %v (events must arrive once each, in order)", tr)
	}
}

func TestDeliveryReports(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Config{Channels: []config.SMSChannel{{Name: "main", Modems: []string{"a"}}}})
	a := newFakeModem("a")
	h.attach(a)
	h.run()
	ctx := context.Background()
	long := strings.Repeat("long message ", 30) // 3 parts
	h.enqueue(message.Outbound{ID: "d1", Channel: "main", To: "+4915111", Text: long, DeliveryReport: true},
		message.Outbound{ID: "d2", Channel: "main", To: "+4915122", Text: "short", DeliveryReport: true})
	h.ev.final(t, "d1", "d2")
	a.mu.Lock()
	s1, s2 := a.sent[0], a.sent[1]
	a.mu.Unlock()
	if len(s1.MRs) != 3 {
		t.Fatalf("d1 parts %v", s1.MRs)
	}
	rep := func(mr int, to string, st byte) StatusReport {
		outcome, reason := gsms.StatusOutcome(st)
		return StatusReport{MR: mr, Recipient: to, Status: int(st), Outcome: outcome, Reason: reason}
	}
	// Parts delivered out of order, one twice, a pending report between.
	for _, r := range []StatusReport{rep(s1.MRs[2], "4915111", 0), rep(s1.MRs[0], "+4915111", 0x20),
		rep(s1.MRs[0], "+4915111", 0), rep(s1.MRs[0], "+4915111", 0)} {
		if err := h.pool.HandleStatusReport(ctx, "a", r); err != nil {
			t.Fatal(err)
		}
	}
	if m, _ := h.pool.Status("d1"); m.Status != message.Sent || m.Delivered != 2 {
		t.Fatalf("d1 after 2 of 3 parts: %+v", m)
	}
	if err := h.pool.HandleStatusReport(ctx, "a", rep(s1.MRs[1], "+4915111", 0)); err != nil {
		t.Fatal(err)
	}
	if err := h.pool.HandleStatusReport(ctx, "a", rep(s2.MRs[0], "+4915122", 0x43)); err != nil {
		t.Fatal(err)
	}
	h.ev.final(t, "d1", "d2")
	h.ev.waitFor(t, "delivery outcomes", func(st []message.StatusEvent, _ []message.Inbound) bool {
		l := lastStatus(st)
		return l["d1"].Status == message.Delivered && l["d2"].Status == message.Failed
	})
	final := lastStatus(func() []message.StatusEvent { s, _ := h.ev.snapshot(); return s }())
	if d := final["d2"]; d.Code != "TP-ST 0x43" || !strings.Contains(d.Reason, "number not obtainable") {
		t.Fatalf("d2 = %+v", d)
	}
	st, _ := h.ev.snapshot()
	if tr := trail(st, "d1"); !slices.Equal(tr, []string{"sending@a", "sent@a", "delivered"}) {
		t.Fatalf("trail d1 = %v", tr)
	}
}

// A status report that arrives before the send result was stored (the
// network beat the modem's last +CMGS answer) is kept and applied.
func TestStatusReportBeforeSendResult(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Config{Channels: []config.SMSChannel{{Name: "main", Modems: []string{"a"}}}})
	a := newFakeModem("a")
	a.mr = 41 // next MR is 42
	a.gate = make(chan struct{})
	h.attach(a)
	h.run()
	ctx := context.Background()
	// A stale report for MR 42 from before this message was sent must not
	// be taken for it.
	outcome, reason := gsms.StatusOutcome(0x41)
	stale := StatusReport{MR: 42, Recipient: "+4915111", Status: 0x41, Outcome: outcome, Reason: reason}
	if err := h.pool.HandleStatusReport(ctx, "a", stale); err != nil {
		t.Fatal(err)
	}
	h.enqueue(message.Outbound{ID: "o1", Channel: "main", To: "+4915111", Text: "x", DeliveryReport: true})
	<-a.started
	h.ev.waitFor(t, "o1 sending", func(st []message.StatusEvent, _ []message.Inbound) bool { return len(trail(st, "o1")) == 1 })
	outcome, reason = gsms.StatusOutcome(0)
	if err := h.pool.HandleStatusReport(ctx, "a", StatusReport{MR: 42, Recipient: "+4915111", Outcome: outcome, Reason: reason}); err != nil {
		t.Fatal(err)
	}
	close(a.gate)
	h.ev.waitFor(t, "o1 delivered", func(st []message.StatusEvent, _ []message.Inbound) bool {
		return slices.Equal(trail(st, "o1"), []string{"sending@a", "sent@a", "delivered"})
	})
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	h := newHarness(t, Config{Registerer: reg, Channels: []config.SMSChannel{{Name: "main", Modems: []string{"a"}}}})
	h.enqueue(msgs(3, "x")...)
	if got := gauge(t, reg, "pbxgate_sms_queue_depth", "channel", "main"); got != 3 {
		t.Fatalf("queue depth %v, want 3", got)
	}
	if got := gauge(t, reg, "pbxgate_sms_channel_blocked", "channel", "main"); got != 1 {
		t.Fatalf("blocked %v, want 1 (no modem attached)", got)
	}
	a := newFakeModem("a")
	h.attach(a)
	h.run()
	h.ev.final(t, "x-000", "x-001", "x-002")
	if got := gauge(t, reg, "pbxgate_sms_sent_total", "sim", "a"); got != 3 {
		t.Fatalf("sent_total{sim=a} = %v", got)
	}
	if got := gauge(t, reg, "pbxgate_sms_queue_depth", "channel", "main"); got != 0 {
		t.Fatalf("queue depth %v after sending", got)
	}
	if got := gauge(t, reg, "pbxgate_sms_sim_sent_today_parts", "sim", "a"); got != 3 {
		t.Fatalf("sent today %v", got)
	}
	// A second pool on the same registry is refused with an error.
	if _, err := New(Config{Store: h.st, Registerer: reg}); err == nil {
		t.Fatal("duplicate metrics registration accepted")
	}
}

// gauge reads the value of one series (counter or gauge) from reg.
func gauge(t *testing.T, reg *prometheus.Registry, name, label, value string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == label && lp.GetValue() == value {
					if c := m.GetCounter(); c != nil {
						return c.GetValue()
					}
					return m.GetGauge().GetValue()
				}
			}
		}
	}
	t.Fatalf("no series %s{%s=%q}", name, label, value)
	return 0
}

func TestChannelBlockedText(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		sims []SIMState
		want string
	}{
		{[]SIMState{{Name: "a"}, {Name: "b", Blocked: "offline"}}, ""},
		{[]SIMState{{Name: "a", Blocked: "offline"}, {Name: "b", Blocked: "not connected"}}, "no SIM online"},
		{[]SIMState{{Name: "a", Blocked: "monthly cap reached (5/5)"}, {Name: "b", Blocked: "monthly cap reached (9/9)"}}, "monthly cap reached on all SIMs"},
		{[]SIMState{{Name: "a", Blocked: "daily cap reached (5/5)"}, {Name: "b", Blocked: "offline"}},
			"no SIM can send: a: daily cap reached (5/5); b: offline"},
		{nil, "no SIMs configured for this channel"},
	} {
		if got := channelBlocked(tc.sims); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.sims, got, tc.want)
		}
	}
}

// A modem that took the message but never answered may have sent it: the
// message becomes unknown instead of going out a second time elsewhere.
func TestMaybeSentBecomesUnknown(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Config{Channels: []config.SMSChannel{{Name: "main", Modems: []string{"a", "b"}}}})
	a, b := newFakeModem("a"), newFakeModem("b")
	a.fail = func(string, string) error {
		return &modem.SendError{Reason: "the modem did not answer; the message may have been sent", ModemFault: true, MaybeSent: true}
	}
	h.attach(a)
	h.enqueue(message.Outbound{ID: "u1", Channel: "main", To: "+491", Text: "x"})
	h.run()
	u := h.ev.final(t, "u1")["u1"]
	if u.Status != message.Unknown || !strings.Contains(u.Reason, "not sent again") {
		t.Fatalf("u1 = %+v", u)
	}
	h.pool.Detach("a")
	h.attach(b)
	h.enqueue(message.Outbound{ID: "u2", Channel: "main", To: "+491", Text: "y"})
	h.ev.final(t, "u2")
	if got := b.sentTexts(); !slices.Equal(got, []string{"y"}) {
		t.Fatalf("b sent %q; u1 must not be resent", got)
	}
}

// testOffline stands for a modem's reason code in TestClassify.
var testOffline = message.NewCode("test.offline", 0)

func TestClassify(t *testing.T) {
	t.Parallel()
	offline := testOffline.R()
	for _, tc := range []struct {
		name string
		err  error
		want Failure
		code string // of the ReasonCode
	}{
		{"permanent CMS", cmsError(1), Failure{Permanent: true, Code: "CMS 1"}, "cms.1"},
		{"congestion", cmsError(42), Failure{Code: "CMS 42"}, "cms.42"},
		{"no network", cmsError(331), Failure{ModemFault: true, Code: "CMS 331"}, "cms.331"},
		{"not ready", &modem.SendError{Reason: "x", Retryable: true, ModemFault: true, Err: modem.ErrNotReady}, Failure{ModemFault: true}, ""},
		{"port gone mid-send", &modem.SendError{Reason: "x", ReasonCode: offline, Retryable: true, ModemFault: true, Err: fmt.Errorf("AT+CMGS=23: %w", modem.ErrOffline)},
			Failure{ModemFault: true, MaybeSent: true}, "sms.went_away"},
		{"timeout", &modem.SendError{Reason: "x", ModemFault: true, MaybeSent: true, Err: modem.ErrTimeout}, Failure{ModemFault: true, MaybeSent: true}, ""},
		{"pool timeout", context.DeadlineExceeded, Failure{ModemFault: true, MaybeSent: true}, "sms.send_timeout"},
		{"other", errors.New("boom"), Failure{ModemFault: true}, "sms.error"},
	} {
		got := Classify(tc.err)
		if got.ReasonCode.Code != tc.code {
			t.Errorf("%s: reason code %+v, want %q", tc.name, got.ReasonCode, tc.code)
		}
		got.Reason, got.ReasonCode = "", message.Reason{}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: %+v, want %+v", tc.name, got, tc.want)
		}
	}
}

func TestChannelHandle(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Config{Channels: []config.SMSChannel{{Name: "main", Modems: []string{"a", "b"}, MaxPerMinute: 30}, {Name: "other", Modems: []string{"c"}}}})
	if _, err := h.pool.Channel("nope"); !errors.Is(err, ErrUnknownChannel) {
		t.Fatalf("Channel(nope) = %v", err)
	}
	ch, err := h.pool.Channel("main")
	if err != nil {
		t.Fatal(err)
	}
	a := newFakeModem("a")
	a.number = "+4917000000001"
	h.attach(a)
	h.run()
	if ch.Name() != "main" || ch.Kind() != message.SMS || ch.MaxPerMinute() != 30 || !ch.ResendSafe() {
		t.Fatalf("channel %s %s %d", ch.Name(), ch.Kind(), ch.MaxPerMinute())
	}
	if err := ch.Send(context.Background(), message.Outbound{ID: "h1", Channel: "other", To: "+491", Text: "x"}); err != nil {
		t.Fatal(err)
	}
	if f := h.ev.final(t, "h1")["h1"]; f.Sender != "a" {
		t.Fatalf("h1 = %+v (must go out on main, whatever m.Channel said)", f)
	}
	testkit.Eventually(t, "number known", func() bool { return slices.Contains(ch.Senders(), "+4917000000001") })
	if got := ch.Senders(); !slices.Equal(got, []string{"a", "b", "+4917000000001"}) {
		t.Fatalf("senders %q", got)
	}
	if st := ch.State(); st.Name != "main" || len(st.SIMs) != 2 || st.Blocked != "" {
		t.Fatalf("state %+v", st)
	}
}

// An event is handed over only when no transaction with a smaller seq is
// still open, whatever order transactions finish in.
func TestEventQueueOrder(t *testing.T) {
	t.Parallel()
	p := &Pool{}
	q := newEventQueue()
	a, b, c := q.alloc(p, "1"), q.alloc(p, "2"), q.alloc(p, "3")
	ev := func(seq uint64) queuedEvent {
		return queuedEvent{seq: seq, ev: message.StatusEvent{ID: fmt.Sprint(seq)}}
	}
	q.release([]queuedEvent{ev(c)}, true)
	if got := q.next(10); len(got) != 0 {
		t.Fatalf("handed over %v while %d and %d are open", got, a, b)
	}
	q.release([]queuedEvent{ev(b)}, false) // lost a conflict: never handed over
	if got := q.next(10); len(got) != 0 {
		t.Fatalf("handed over %v while %d is open", got, a)
	}
	q.release([]queuedEvent{ev(a)}, true)
	got := q.next(10)
	if len(got) != 2 || got[0].seq != a || got[1].seq != c {
		t.Fatalf("next = %v, want %d then %d", got, a, c)
	}
	if !q.has("1") || q.has("2") || !q.has("3") {
		t.Fatalf("waiting events of 1, 2, 3: %v, %v, %v (want true, false, true)", q.has("1"), q.has("2"), q.has("3"))
	}
	q.done(1)
	if got := q.next(10); len(got) != 1 || got[0].seq != c {
		t.Fatalf("after done(1): %v", got)
	}
	if q.has("1") || !q.has("3") {
		t.Fatalf("after done(1): waiting events of 1, 3: %v, %v (want false, true)", q.has("1"), q.has("3"))
	}
}

// An event the consumer refuses every time is dropped after a while
// instead of holding back every later one.
func TestPoisonEventDropped(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Config{Channels: []config.SMSChannel{{Name: "main", Modems: []string{"a"}}}})
	h.ev.mu.Lock()
	h.ev.failNext = sinkAttempts // the first event (x-000 sending) is refused every time
	h.ev.mu.Unlock()
	h.attach(newFakeModem("a"))
	h.enqueue(msgs(2, "x")...)
	h.run()
	h.ev.final(t, "x-000", "x-001")
	st, _ := h.ev.snapshot()
	if tr := trail(st, "x-000"); !slices.Equal(tr, []string{"sent@a"}) {
		t.Fatalf("trail x-000 = %v, want the refused sending event dropped", tr)
	}
}

func TestPacerCapsResetByLocalDate(t *testing.T) {
	t.Parallel()
	loc := time.FixedZone("CET", 3600)
	pc, err := newPacer(config.Pacing{DailyCap: 10, MonthlyCap: 30}, 1)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 30, 23, 30, 0, 0, loc)
	pc.count(dayKey(now), monthKey(now), 5, 30)
	reason, until := pc.blocked(now)
	if reason != "monthly cap reached (30/30)" || !until.Equal(time.Date(2026, 12, 1, 0, 0, 0, 0, loc)) {
		t.Fatalf("blocked = %q until %s", reason, until)
	}
	pc.count(dayKey(now), monthKey(now), 10, 12)
	if reason, until = pc.blocked(now); reason != "daily cap reached (10/10)" || !until.Equal(time.Date(2026, 12, 1, 0, 0, 0, 0, loc)) {
		t.Fatalf("blocked = %q until %s", reason, until)
	}
	// 23:30 UTC is already the next day in CET: the counters are the
	// previous day's and do not block.
	if reason, _ := pc.blocked(time.Date(2026, 11, 30, 23, 30, 0, 0, time.UTC).In(loc)); reason != "" {
		t.Fatalf("next local day still blocked: %q", reason)
	}
}

// The monthly cap counts the month's day counters (a month has no counter
// of its own any more, which saved a read and a write per SMS): across a
// change of day, a restart, and with a month counter left by an older
// version, which is not read.
func TestMonthlyCapSumsDays(t *testing.T) {
	t.Parallel()
	loc := time.FixedZone("CET", 3600)
	clk := newClock(time.Date(2026, 11, 21, 10, 0, 0, 0, loc))
	h := newHarness(t, Config{
		Channels: []config.SMSChannel{{Name: "main", Modems: []string{"a"}}},
		Pacing:   map[string]config.Pacing{"a": {DailyCap: 2, MonthlyCap: 4}},
		Location: loc, Now: clk.Now,
	})
	// Sent earlier this month: 1 on the 2nd; an old month counter says 99.
	if err := h.st.Update(func(txn *store.Txn) error {
		if err := setTTL(txn, countKey("a", "2026-11-02"), 1, counterTTL); err != nil {
			return err
		}
		if err := setTTL(txn, countKey("a", "2026-10-31"), 50, counterTTL); err != nil {
			return err
		}
		return setTTL(txn, countKey("a", "2026-11"), 99, counterTTL)
	}); err != nil {
		t.Fatal(err)
	}
	h.stop()
	h.open()
	a := newFakeModem("a")
	h.attach(a)
	batch := msgs(4, "mc")
	h.enqueue(batch...)
	h.run()
	h.ev.final(t, "mc-000", "mc-001")
	sim := func() SIMState {
		for _, s := range h.pool.SIMStates() {
			if s.Name == "a" {
				return s
			}
		}
		t.Fatal("no SIM a")
		return SIMState{}
	}
	testkit.Eventually(t, "daily cap", func() bool { return sim().Blocked == "daily cap reached (2/2)" })
	if s := sim(); s.SentToday != 2 || s.SentMonth != 3 {
		t.Fatalf("sim a = %+v, want 2 today and 3 this month", s)
	}
	// Next day: one more fits the monthly cap of 4, then it is reached.
	clk.Set(time.Date(2026, 11, 22, 9, 0, 0, 0, loc))
	h.ev.final(t, "mc-002")
	testkit.Eventually(t, "monthly cap", func() bool { return sim().Blocked == "monthly cap reached (4/4)" })
	// A restart recounts the month from its days.
	h.stop()
	h.open()
	h.attach(a)
	if s := sim(); s.SentMonth != 4 || s.Blocked != "monthly cap reached (4/4)" {
		t.Fatalf("after restart: %+v", s)
	}
	h.run()
	clk.Set(time.Date(2026, 12, 1, 9, 0, 0, 0, loc))
	h.ev.final(t, ids(batch)...)
	if s := sim(); s.SentToday != 1 || s.SentMonth != 1 {
		t.Fatalf("in December: %+v", s)
	}
	if got := len(a.sentTexts()); got != 4 {
		t.Fatalf("%d sent, want 4", got)
	}
}

// A delivery report rides on the next transaction a SIM worker commits
// anyway (marking its next message sending, synced before the modem sees
// it) and HandleStatusReport returns once that is stored; with no such
// transaction it is stored on its own (reportRideDelay; here far longer,
// so only the ride can store it in time).
func TestStatusReportRidesOnMarkSending(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Config{Channels: []config.SMSChannel{{Name: "main", Modems: []string{"a"}}}})
	h.pool.reports.delay = time.Hour
	a := newFakeModem("a")
	h.attach(a)
	h.run()
	ctx := context.Background()
	h.enqueue(message.Outbound{ID: "r1", Channel: "main", To: "+4915111", Text: "x", DeliveryReport: true})
	h.ev.waitFor(t, "r1 sent", func(st []message.StatusEvent, _ []message.Inbound) bool { return len(trail(st, "r1")) == 2 })
	a.mu.Lock()
	mr := a.sent[0].MRs[0]
	a.mu.Unlock()
	outcome, reason := gsms.StatusOutcome(0)
	done := make(chan error, 1)
	go func() {
		done <- h.pool.HandleStatusReport(ctx, "a", StatusReport{MR: mr, Recipient: "+4915111", Outcome: outcome, Reason: reason})
	}()
	for {
		h.pool.reports.mu.Lock()
		n := len(h.pool.reports.q)
		h.pool.reports.mu.Unlock()
		if n == 1 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	select {
	case err := <-done:
		t.Fatalf("returned before the report was stored: %v", err)
	case <-time.After(20 * time.Millisecond):
	}
	h.enqueue(message.Outbound{ID: "r2", Channel: "main", To: "+4915122", Text: "y"})
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(waitLimit):
		t.Fatal("the report did not ride on r2's transaction")
	}
	if m, err := h.pool.Status("r1"); err != nil || m.Status != message.Delivered {
		t.Fatalf("r1 = %+v, %v", m, err)
	}
	h.ev.waitFor(t, "r1 delivered", func(st []message.StatusEvent, _ []message.Inbound) bool {
		return slices.Equal(trail(st, "r1"), []string{"sending@a", "sent@a", "delivered"})
	})
}
