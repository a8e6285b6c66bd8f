package session

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pbxgate/pbxgate/gateway/campaign"
	"github.com/pbxgate/pbxgate/gateway/config"
	"github.com/pbxgate/pbxgate/gateway/message"
	"github.com/pbxgate/pbxgate/gateway/store"
)

// These tests drive the manager with a fake clock and an in-process
// extension directory (the SIP side is tested against Kamailio in pbx/).

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}
func (c *fakeClock) After(time.Duration) <-chan time.Time { return nil }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// phones are extensions: online ones take chats, offline ones are
// unreachable.
type phones struct {
	mu       sync.Mutex
	offline  map[string]bool
	got      map[string][]string // ext → "contact: text"
	receipts map[string][]Receipt
}

func newPhones() *phones { return &phones{offline: map[string]bool{}, got: map[string][]string{}} }

func (p *phones) DeliverChat(_ context.Context, ext string, c Chat) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.offline[ext] {
		return fmt.Errorf("%w: 480", ErrUnreachable)
	}
	p.got[ext] = append(p.got[ext], c.Contact+": "+c.Text)
	if c.Receipt != nil {
		if p.receipts == nil {
			p.receipts = map[string][]Receipt{}
		}
		p.receipts[ext] = append(p.receipts[ext], *c.Receipt)
	}
	return nil
}

func (p *phones) setOffline(ext string, off bool) {
	p.mu.Lock()
	p.offline[ext] = off
	p.mu.Unlock()
}

// take returns and forgets what ext received.
func (p *phones) peek(ext string) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.got[ext])
}

// waitUntil polls cond (notices go out in the background).
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond) // polling background notices; the deadline guards
	}
}

func (p *phones) take(ext string) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	g := p.got[ext]
	delete(p.got, ext)
	return g
}

type outbox struct {
	mu   sync.Mutex
	sent []message.Outbound
	err  error
}

func (o *outbox) Send(_ context.Context, out message.Outbound) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.err != nil {
		return o.err
	}
	o.sent = append(o.sent, out)
	return nil
}

func (o *outbox) all() []message.Outbound {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.sent)
}

type harness struct {
	t      *testing.T
	dir    string
	st     *store.Store
	clock  *fakeClock
	phones *phones
	out    *outbox
	cfg    Config
	m      *Manager
}

func testLogger() *slog.Logger {
	if os.Getenv("SESSION_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

func newHarness(t *testing.T, route Target, queues ...Queue) *harness {
	h := &harness{t: t, dir: t.TempDir(), clock: &fakeClock{t: time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)}, // a Monday
		phones: newPhones(), out: &outbox{}}
	h.cfg = Config{Deliverer: h.phones, Clock: h.clock, Logger: testLogger(), Queues: queues,
		Channels: []Channel{
			{Name: "sms", Kind: message.SMS, Sender: h.out, Route: route},
			{Name: "wa", Kind: message.WhatsApp, Sender: h.out, Route: route, IdleTimeout: 48 * time.Hour},
		},
		RetryMin: time.Second, RetryMax: 4 * time.Second, MaxAttempts: 3, PortalURL: "https://gw.example/"} // netscope: portal URL written into texts
	h.open()
	t.Cleanup(func() { h.st.Close() })
	return h
}

func (h *harness) open() {
	h.t.Helper()
	st, err := store.Open(store.Options{Dir: h.dir, Logger: testLogger()})
	if err != nil {
		h.t.Fatal(err)
	}
	h.st = st
	cfg := h.cfg
	cfg.Store = st
	if h.m, err = New(cfg); err != nil {
		h.t.Fatal(err)
	}
}

// settle delivers everything due now and waits for it.
func (h *harness) settle() {
	for range 50 {
		_, n := h.m.sweep(context.Background())
		h.m.wg.Wait()
		if n == 0 {
			return
		}
	}
	h.t.Fatal("deliveries do not settle")
}

var inSeq int

func (h *harness) inbound(channel, from, text string) {
	h.t.Helper()
	inSeq++
	if err := h.m.Inbound(context.Background(), message.Inbound{ID: fmt.Sprintf("in-%d", inSeq), Kind: message.SMS,
		Channel: channel, Receiver: "sim1", From: from, Text: text, At: h.clock.Now()}); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) only(s string) Session {
	h.t.Helper()
	ss, err := h.m.List(true, 0)
	if err != nil || len(ss) != 1 {
		h.t.Fatalf("open sessions: %+v %v, want 1", ss, err)
	}
	return ss[0]
}

func eq(t *testing.T, what string, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Fatalf("%s: got %q, want %q", what, got, want)
	}
}

const alice, bob, carol = "+491700000001", "+491700000002", "+491700000003"

// Manual pickup: every offered member sees the session until one replies;
// then only that member gets it and may answer.
func TestQueueManualRingAll(t *testing.T) {
	h := newHarness(t, Target{Kind: ToQueue, ID: "support"},
		Queue{Name: "support", Members: []string{"201", "202"}, Assignment: Manual})
	h.inbound("sms", alice, "Hallo")
	h.settle()
	eq(t, "201", h.phones.take("201"), []string{alice + ": Hallo"})
	eq(t, "202", h.phones.take("202"), []string{alice + ": Hallo"})
	if s := h.only(""); s.Owner != "" || s.PickedUp {
		t.Fatalf("before pickup: %+v", s)
	}
	if err := h.m.FromExtension(context.Background(), "202", alice, "Ich helfe Ihnen."); err != nil {
		t.Fatal(err)
	}
	if s := h.only(""); s.Owner != "202" || !s.PickedUp || !hasOp(s, "picked_up", "202") {
		t.Fatalf("after pickup: %+v", s)
	}
	err := h.m.FromExtension(context.Background(), "201", alice, "Ich auch")
	if !errors.Is(err, ErrNotYours) || !strings.Contains(err.Error(), "202") {
		t.Fatalf("second member's reply: %v, want ErrNotYours naming 202", err)
	}
	h.inbound("sms", alice, "Danke")
	h.settle()
	eq(t, "202 after pickup", h.phones.take("202"), []string{alice + ": Danke"})
	eq(t, "201 after pickup", h.phones.take("201"), nil)
	out := h.out.all()
	if len(out) != 1 || out[0].To != alice || out[0].Sender != "sim1" || out[0].Channel != "sms" || out[0].Text != "Ich helfe Ihnen." {
		t.Fatalf("sent %+v", out)
	}
	if err := h.m.FromExtension(context.Background(), "299", alice, "?"); !errors.Is(err, ErrNotYours) {
		t.Fatalf("non-member: %v", err)
	}
}

// Auto with round robin: sessions go to members in turn, each owned by
// its member; an unanswered one moves to the next member after the
// answer timeout, with what the contact wrote.
func TestQueueAutoRoundRobinAnswerTimeout(t *testing.T) {
	h := newHarness(t, Target{Kind: ToQueue, ID: "support"},
		Queue{Name: "support", Members: []string{"201", "202", "203"}, Assignment: Auto, Distribution: RoundRobin,
			AnswerTimeout: time.Minute, Fallback: Target{Kind: ToExtension, ID: "200"}})
	h.inbound("sms", alice, "a")
	h.inbound("sms", bob, "b")
	h.inbound("sms", carol, "c")
	h.settle()
	eq(t, "201", h.phones.take("201"), []string{alice + ": a"})
	eq(t, "202", h.phones.take("202"), []string{bob + ": b"})
	eq(t, "203", h.phones.take("203"), []string{carol + ": c"})
	// 202 and 203 answer; 201 does not.
	for ext, c := range map[string]string{"202": bob, "203": carol} {
		if err := h.m.FromExtension(context.Background(), ext, c, "ok"); err != nil {
			t.Fatal(err)
		}
	}
	h.clock.Add(61 * time.Second)
	h.settle()
	eq(t, "202 gets alice after 201's timeout", h.phones.take("202"), []string{alice + ": a"})
	h.clock.Add(61 * time.Second)
	h.settle()
	eq(t, "203 next", h.phones.take("203"), []string{alice + ": a"})
	h.clock.Add(61 * time.Second)
	h.settle()
	eq(t, "fallback 200 after everyone", h.phones.take("200"), []string{alice + ": pbxgate: conversation with " + alice + " transferred to you by pbxgate", alice + ": a"})
}

// Assignment none: every member gets every message and may answer; nobody
// owns the session.
func TestQueueNone(t *testing.T) {
	h := newHarness(t, Target{Kind: ToQueue, ID: "team"},
		Queue{Name: "team", Members: []string{"201", "202"}, Assignment: None})
	h.inbound("sms", alice, "1")
	h.settle()
	for _, ext := range []string{"201", "202"} {
		if err := h.m.FromExtension(context.Background(), ext, alice, "from "+ext); err != nil {
			t.Fatal(err)
		}
	}
	h.inbound("sms", alice, "2")
	h.settle()
	eq(t, "201", h.phones.take("201"), []string{alice + ": 1", alice + ": 2"})
	eq(t, "202", h.phones.take("202"), []string{alice + ": 1", alice + ": 2"})
	if s := h.only(""); s.Owner != "" || s.PickedUp {
		t.Fatalf("none mode session has an owner: %+v", s)
	}
	if n := len(h.out.all()); n != 2 {
		t.Fatalf("%d replies sent, want 2", n)
	}
}

// Least recently assigned picks the member idle longest.
func TestQueueLeastRecent(t *testing.T) {
	h := newHarness(t, Target{Kind: ToQueue, ID: "q"},
		Queue{Name: "q", Members: []string{"201", "202"}, Assignment: Auto, Distribution: LeastRecent})
	h.inbound("sms", alice, "a") // both never assigned: first member
	h.clock.Add(time.Second)
	h.inbound("sms", bob, "b") // 202 never assigned
	h.clock.Add(time.Second)
	h.inbound("sms", carol, "c") // 201 assigned longest ago
	h.settle()
	got := h.phones.take("201")
	slices.Sort(got) // different sessions: no order between them
	eq(t, "201", got, []string{alice + ": a", carol + ": c"})
	eq(t, "202", h.phones.take("202"), []string{bob + ": b"})
}

// Store and forward: an offline extension's messages wait (in the store,
// across a restart) and arrive in order once it is back.
func TestOfflineExtensionAcrossRestart(t *testing.T) {
	h := newHarness(t, Target{Kind: ToExtension, ID: "201"})
	h.phones.setOffline("201", true)
	h.inbound("sms", alice, "eins")
	h.inbound("sms", alice, "zwei")
	for range 6 {
		h.settle()
		h.clock.Add(5 * time.Second)
	}
	if n := h.m.Pending(); n != 2 {
		t.Fatalf("pending %d, want 2", n)
	}
	h.st.Close()
	h.open()
	h.phones.setOffline("201", false)
	h.clock.Add(5 * time.Second)
	h.settle()
	eq(t, "201 back", h.phones.take("201"), []string{alice + ": eins", alice + ": zwei"})
	if n := h.m.Pending(); n != 0 {
		t.Fatalf("pending %d after delivery", n)
	}
	s := h.only("")
	log, err := h.m.Log(s.ID)
	if err != nil || len(log) != 2 || log[0].Status != "delivered" || !slices.Equal(log[1].DeliveredTo, []string{"201"}) {
		t.Fatalf("log %+v %v", log, err)
	}
}

// An unreachable extension hands the session to the channel's fallback.
func TestUnreachableGoesToFallback(t *testing.T) {
	h := newHarness(t, Target{Kind: ToExtension, ID: "201"})
	h.cfg.Channels[0].Fallback = Target{Kind: ToQueue, ID: "backup"}
	h.cfg.Queues = []Queue{{Name: "backup", Members: []string{"210"}}}
	h.st.Close()
	h.open()
	h.phones.setOffline("201", true)
	h.inbound("sms", alice, "Hilfe")
	for range 4 {
		h.settle()
		h.clock.Add(5 * time.Second)
	}
	got := h.phones.take("210")
	if len(got) != 2 || got[1] != alice+": Hilfe" || !strings.Contains(got[0], "transferred to you by pbxgate") {
		t.Fatalf("fallback got %q", got)
	}
	if s := h.only(""); s.Target != (Target{Kind: ToQueue, ID: "backup"}) || !hasOp(s, "unreachable", "pbxgate") {
		t.Fatalf("session %+v", s)
	}
}

// Agent commands: transfer to an extension and to a queue, close; a bad
// command is refused.
func TestCommands(t *testing.T) {
	h := newHarness(t, Target{Kind: ToExtension, ID: "201"}, Queue{Name: "support", Members: []string{"205"}})
	ctx := context.Background()
	h.m.runCtx.Store(&ctx) // notices go out as under Run
	h.inbound("sms", alice, "Frage")
	h.settle()
	h.phones.take("201")
	if err := h.m.FromExtension(ctx, "201", alice, "/transfer 202"); err != nil {
		t.Fatal(err)
	}
	h.settle()
	// The note before the backlog it introduces; the transferring agent is
	// told it went through.
	if got := h.phones.take("202"); len(got) != 2 || got[1] != alice+": Frage" || !strings.Contains(got[0], "by 201") {
		t.Fatalf("202 got %q, want the note, then the backlog", got)
	}
	waitUntil(t, "confirmation to 201", func() bool {
		got := h.phones.peek("201")
		return len(got) == 1 && strings.Contains(got[0], "was transferred to 202")
	})
	h.phones.take("201")
	if err := h.m.FromExtension(ctx, "201", alice, "noch da?"); !errors.Is(err, ErrNotYours) {
		t.Fatalf("old owner after transfer: %v", err)
	}
	if err := h.m.FromExtension(ctx, "202", alice, "/transfer queue:support"); err != nil {
		t.Fatal(err)
	}
	h.settle()
	if got := h.phones.take("205"); len(got) != 2 {
		t.Fatalf("queue member got %q", got)
	}
	waitUntil(t, "confirmation to 202", func() bool {
		got := h.phones.peek("202")
		return len(got) == 1 && strings.Contains(got[0], "was transferred to queue:support")
	})
	if err := h.m.FromExtension(ctx, "205", alice, "/transfer queue:nope"); !errors.Is(err, ErrUnknownTarget) {
		t.Fatalf("unknown queue: %v", err)
	}
	if err := h.m.FromExtension(ctx, "205", alice, "/fly"); !errors.Is(err, ErrBadCommand) {
		t.Fatalf("bad command: %v", err)
	}
	if err := h.m.FromExtension(ctx, "205", alice, "/close"); err != nil {
		t.Fatal(err)
	}
	if ss, _ := h.m.List(true, 0); len(ss) != 0 {
		t.Fatalf("open after /close: %+v", ss)
	}
	all, _ := h.m.List(false, 0)
	if len(all) != 1 || !hasOp(all[0], "transferred", "201") || !hasOp(all[0], "transferred", "202") || !hasOp(all[0], "closed", "205") {
		t.Fatalf("timeline %+v", all)
	}
	if len(h.out.all()) != 0 {
		t.Fatalf("commands went to the customer: %+v", h.out.all())
	}
}

// Extensions may start conversations only on a default non-WhatsApp
// channel.
func TestExtensionStartsConversation(t *testing.T) {
	h := newHarness(t, Target{Kind: ToExtension, ID: "201"})
	ctx := context.Background()
	if err := h.m.FromExtension(ctx, "201", alice, "Hallo"); !errors.Is(err, ErrNoSession) {
		t.Fatalf("no default channel: %v", err)
	}
	h.cfg.DefaultChannel = "wa"
	h.st.Close()
	h.open()
	if err := h.m.FromExtension(ctx, "201", alice, "Hallo"); !errors.Is(err, ErrWindowClosed) {
		t.Fatalf("WhatsApp default channel: %v", err)
	}
	h.cfg.DefaultChannel = "sms"
	h.st.Close()
	h.open()
	if err := h.m.FromExtension(ctx, "201", alice, "Hallo"); err != nil {
		t.Fatal(err)
	}
	s := h.only("")
	if s.Channel != "sms" || s.Owner != "201" || !s.PickedUp {
		t.Fatalf("session %+v", s)
	}
	h.out.mu.Lock()
	h.out.err = errors.New("no SIM")
	h.out.mu.Unlock()
	if err := h.m.FromExtension(ctx, "201", alice, "noch mal"); err == nil || !strings.Contains(err.Error(), "no SIM") {
		t.Fatalf("channel refusal: %v", err)
	}
	log, _ := h.m.Log(s.ID)
	if len(log) != 2 || log[1].Status != string(message.Failed) {
		t.Fatalf("log %+v", log)
	}
}

// Idle sessions close; the next message opens a new one. Campaign sessions
// are reused per contact and channel.
func TestIdleCloseAndCampaignReuse(t *testing.T) {
	h := newHarness(t, Target{Kind: ToExtension, ID: "201"}, Queue{Name: "sales", Members: []string{"220"}})
	ctx := context.Background()
	id1, reused, err := h.m.OpenSession(ctx, campaign.SessionRequest{Channel: "sms", Contact: alice, Target: campaign.Target{Kind: "queue", ID: "sales"}})
	if err != nil || reused {
		t.Fatal(err, reused)
	}
	id2, reused, err := h.m.OpenSession(ctx, campaign.SessionRequest{Channel: "sms", Contact: alice, Target: campaign.Target{Kind: "queue", ID: "sales"}})
	if err != nil || !reused || id2 != id1 {
		t.Fatalf("second OpenSession: %s %v %v", id2, reused, err)
	}
	if _, _, err := h.m.OpenSession(ctx, campaign.SessionRequest{Channel: "sms", Contact: bob, Target: campaign.Target{Kind: "queue", ID: "nope"}}); !errors.Is(err, campaign.ErrRejected) {
		t.Fatalf("unknown queue: %v", err)
	}
	h.inbound("sms", alice, "Antwort auf Kampagne")
	h.settle()
	eq(t, "sales member", h.phones.take("220"), []string{alice + ": Antwort auf Kampagne"})
	h.clock.Add(25 * time.Hour)
	h.settle()
	if ss, _ := h.m.List(true, 0); len(ss) != 0 {
		t.Fatalf("still open after idle timeout: %+v", ss)
	}
	h.inbound("sms", alice, "neu")
	h.settle()
	eq(t, "route for a new session", h.phones.take("201"), []string{alice + ": neu"})
	if s := h.only(""); s.ID == id1 {
		t.Fatal("closed session reused")
	}
}

// Outside business hours: out-of-hours destination and one auto-reply.
func TestBusinessHours(t *testing.T) {
	h := newHarness(t, Target{Kind: ToQueue, ID: "support"},
		Queue{Name: "support", Members: []string{"201"}, Hours: &Hours{Days: []time.Weekday{time.Monday}, Open: "09:00", Close: "17:00"},
			OutOfHours: Target{Kind: ToExtension, ID: "299"}, AutoReply: "Wir sind ab 9 Uhr da."})
	h.clock.Add(8 * time.Hour) // Monday 18:00
	h.inbound("sms", alice, "Hallo?")
	h.inbound("sms", alice, "Noch jemand?")
	h.settle()
	eq(t, "out-of-hours extension", h.phones.take("299"), []string{alice + ": Hallo?", alice + ": Noch jemand?"})
	out := h.out.all()
	if len(out) != 1 || out[0].Text != "Wir sind ab 9 Uhr da." || out[0].To != alice {
		t.Fatalf("auto-replies %+v", out)
	}
}

// Repeated inbound IDs (at-least-once channels) are stored once; media
// arrive as a portal link; status events update the log.
func TestDedupeMediaStatus(t *testing.T) {
	h := newHarness(t, Target{Kind: ToExtension, ID: "201"})
	ctx := context.Background()
	in := message.Inbound{ID: "wamid.1", Kind: message.WhatsApp, Channel: "wa", From: "491700000009", MediaType: "image", MediaID: "m1", Text: "Foto", At: h.clock.Now()}
	for range 2 {
		if err := h.m.Inbound(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	h.settle()
	got := h.phones.take("201")
	if len(got) != 1 || !strings.Contains(got[0], "https://gw.example/sessions/") || !strings.Contains(got[0], "/media/m1") { // netscope: portal URL in a text
		t.Fatalf("extension got %q", got)
	}
	if err := h.m.FromExtension(ctx, "201", "491700000009", "Danke"); err != nil {
		t.Fatal(err)
	}
	out := h.out.all()
	if err := h.m.HandleStatus(ctx, message.StatusEvent{ID: out[0].ID, Status: message.Delivered}); err != nil {
		t.Fatal(err)
	}
	if err := h.m.HandleStatus(ctx, message.StatusEvent{ID: "campaign-1", Status: message.Sent}); !errors.Is(err, ErrUnknownStatus) {
		t.Fatalf("foreign status: %v", err)
	}
	s := h.only("")
	log, _ := h.m.Log(s.ID)
	if len(log) != 2 || log[1].Status != string(message.Delivered) {
		t.Fatalf("log %+v", log)
	}
	// A failure keeps the channel's reason and its code for the portal.
	if err := h.m.FromExtension(ctx, "201", "491700000009", "Noch was"); err != nil {
		t.Fatal(err)
	}
	out = h.out.all()
	fail := testFailCode.R("38")
	if err := h.m.HandleStatus(ctx, message.StatusEvent{ID: out[len(out)-1].ID, Status: message.Failed, Reason: "network out of order", ReasonCode: fail}); err != nil {
		t.Fatal(err)
	}
	log, _ = h.m.Log(s.ID)
	if last := log[len(log)-1]; last.Status != string(message.Failed) || last.Reason != "network out of order" || last.ReasonCode.Code != "test.session_fail" || len(last.ReasonCode.Args) != 1 {
		t.Fatalf("failed entry %+v", last)
	}
}

// testFailCode stands for a channel's reason code.
var testFailCode = message.NewCode("test.session_fail", 1)

func hasOp(s Session, op, by string) bool {
	for _, e := range s.Timeline {
		if e.Op == op && (e.By == by || strings.Contains(e.Detail, by)) {
			return true
		}
	}
	return false
}

func TestFromConfig(t *testing.T) {
	cs := config.Sessions{IdleTimeout: time.Hour,
		Routes: []config.SessionRoute{{Channel: "sms", To: "queue:support", Fallback: "200"}},
		Queues: []config.MessageQueue{{Name: "support", Members: []string{"201"}, Assignment: "auto",
			Hours: &config.BusinessHours{Days: []string{"mon", "Friday"}, Open: "09:00", Close: "17:00"}}}}
	qs, err := QueuesFromConfig(cs, time.UTC)
	if err != nil || len(qs) != 1 || qs[0].Hours == nil || !slices.Equal(qs[0].Hours.Days, []time.Weekday{time.Monday, time.Friday}) {
		t.Fatalf("queues %+v %v", qs, err)
	}
	chs, err := ChannelsFromConfig(cs, func(name string) (message.Kind, Sender, bool) { return message.SMS, &outbox{}, name == "sms" })
	if err != nil || len(chs) != 1 || chs[0].Route != (Target{Kind: ToQueue, ID: "support"}) || chs[0].Fallback != (Target{Kind: ToExtension, ID: "200"}) {
		t.Fatalf("channels %+v %v", chs, err)
	}
	cs.Routes[0].Channel = "nope"
	if _, err := ChannelsFromConfig(cs, func(string) (message.Kind, Sender, bool) { return "", nil, false }); !errors.Is(err, ErrUnknownChannel) {
		t.Fatalf("unknown channel: %v", err)
	}
}

type book map[string]string

func (b book) NameOf(_ context.Context, n string) (string, bool) { v, ok := b[n]; return v, ok }

// WhatsApp replies need the contact's message within 24 h; names come from
// the phonebook when the channel has none.
func TestWhatsAppWindowAndNames(t *testing.T) {
	h := newHarness(t, Target{Kind: ToExtension, ID: "201"})
	h.cfg.Names = book{"491700000009": "Erika Muster"}
	h.st.Close()
	h.open()
	ctx := context.Background()
	if err := h.m.Inbound(ctx, message.Inbound{ID: "w1", Kind: message.WhatsApp, Channel: "wa", From: "491700000009", Text: "Hi", At: h.clock.Now()}); err != nil {
		t.Fatal(err)
	}
	if s := h.only(""); s.Name != "Erika Muster" {
		t.Fatalf("name %q", s.Name)
	}
	h.clock.Add(23 * time.Hour)
	if err := h.m.FromExtension(ctx, "201", "491700000009", "Hallo"); err != nil {
		t.Fatal(err)
	}
	h.clock.Add(time.Hour) // the reply keeps the session open; the window closed
	if err := h.m.FromExtension(ctx, "201", "491700000009", "Noch da?"); !errors.Is(err, ErrWindowClosed) {
		t.Fatalf("24 h after the contact's last message: %v, want ErrWindowClosed", err)
	}
}

func TestRetryNowAndHandles(t *testing.T) {
	h := newHarness(t, Target{Kind: ToExtension, ID: "201"})
	if !h.m.Handles("sms") || h.m.Handles("nope") {
		t.Fatal("Handles")
	}
	h.phones.setOffline("201", true)
	h.inbound("sms", alice, "x")
	h.settle() // attempt 1 fails; the next is 1 s away on the fake clock
	h.phones.setOffline("201", false)
	h.settle()
	eq(t, "before RetryNow", h.phones.take("201"), nil)
	if n := h.m.RetryNow("201"); n != 1 {
		t.Fatalf("RetryNow = %d", n)
	}
	h.settle()
	eq(t, "after RetryNow", h.phones.take("201"), []string{alice + ": x"})
}

// An admin answers from the portal: the text leaves on the session's
// channel to the contact, the log and timeline name the portal user, the
// owner stays, and the reply survives a restart.
func TestPortalReply(t *testing.T) {
	h := newHarness(t, Target{Kind: ToExtension, ID: "201"})
	ctx := context.Background()
	h.inbound("sms", alice, "Hallo, ist jemand da?")
	h.settle()
	s := h.only("")
	if err := h.m.Reply(ctx, s.ID, "portal:admin", "  "); !errors.Is(err, ErrEmptyReply) {
		t.Fatalf("empty reply: %v, want ErrEmptyReply", err)
	}
	if err := h.m.Reply(ctx, s.ID, "portal:admin", "Ja, hier ist der Empfang."); err != nil {
		t.Fatal(err)
	}
	out := h.out.all()
	if len(out) != 1 || out[0].To != alice || out[0].Channel != "sms" || out[0].Text != "Ja, hier ist der Empfang." {
		t.Fatalf("sent %+v, want the reply to %s on sms", out, alice)
	}
	h.st.Close()
	h.open()
	log, err := h.m.Log(s.ID)
	if err != nil {
		t.Fatal(err)
	}
	last := log[len(log)-1]
	if last.Dir != Out || last.By != "portal:admin" || last.Text != "Ja, hier ist der Empfang." || last.OutboundID == "" {
		t.Fatalf("last log entry %+v", last)
	}
	got, err := h.m.Get(s.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !hasOp(got, "replied", "portal:admin") || got.Owner != s.Owner {
		t.Fatalf("timeline %+v owner %q (was %q)", got.Timeline, got.Owner, s.Owner)
	}
	if err := h.m.Close(ctx, s.ID, "portal:admin"); err != nil {
		t.Fatal(err)
	}
	if err := h.m.Reply(ctx, s.ID, "portal:admin", "Noch da?"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("reply to a closed session: %v, want ErrNotFound", err)
	}
}

func TestPortalReplyWhatsAppWindow(t *testing.T) {
	h := newHarness(t, Target{Kind: ToExtension, ID: "201"})
	ctx := context.Background()
	if err := h.m.Inbound(ctx, message.Inbound{ID: "w1", Kind: message.WhatsApp, Channel: "wa", From: "491700000009", Text: "Hi", At: h.clock.Now()}); err != nil {
		t.Fatal(err)
	}
	s := h.only("")
	h.clock.Add(25 * time.Hour)
	if err := h.m.Reply(ctx, s.ID, "portal:admin", "Hallo"); !errors.Is(err, ErrWindowClosed) {
		t.Fatalf("25 h after the contact wrote: %v, want ErrWindowClosed", err)
	}
	if n := len(h.out.all()); n != 0 {
		t.Fatalf("%d messages sent outside the window", n)
	}
}

// A campaign message sent in session mode shows in the chat log once
// (a retry after a crash asks again), and its channel status follows.
func TestCampaignMessageInChatLog(t *testing.T) {
	h := newHarness(t, Target{Kind: ToExtension, ID: "201"})
	ctx := context.Background()
	req := campaign.SessionRequest{Channel: "sms", Contact: alice, MsgID: "c7-1-1", Text: "Ihr Termin ist morgen um 10 Uhr.", By: "campaign:Termine"}
	id, reused, err := h.m.OpenSession(ctx, req)
	if err != nil || reused {
		t.Fatalf("open: %s %v %v", id, reused, err)
	}
	if id2, reused, err := h.m.OpenSession(ctx, req); err != nil || id2 != id || !reused {
		t.Fatalf("again: %s %v %v", id2, reused, err)
	}
	log, err := h.m.Log(id)
	if err != nil || len(log) != 1 {
		t.Fatalf("log %+v %v, want the campaign message once", log, err)
	}
	if e := log[0]; e.Dir != Out || e.Text != req.Text || e.By != "campaign:Termine" || e.Status != string(message.Queued) {
		t.Fatalf("entry %+v", e)
	}
	if err := h.m.HandleCampaignStatus(ctx, message.StatusEvent{ID: "c7-1-1", Status: message.Delivered}); err != nil {
		t.Fatal(err)
	}
	if err := h.m.HandleCampaignStatus(ctx, message.StatusEvent{ID: "other", Status: message.Sent}); !errors.Is(err, ErrUnknownStatus) {
		t.Fatalf("foreign status: %v", err)
	}
	// As the router's follower: this message's statuses must reach the
	// chat log durably (not inside the channel's transaction), others'
	// need not.
	f := h.m.CampaignFollower()
	if err := h.st.View(func(txn *store.Txn) error {
		for id, want := range map[string]bool{"c7-1-1": true, "other": false} {
			got, err := f.FollowsTxn(txn, message.StatusEvent{ID: id, Status: message.Sent})
			if err != nil || got != want {
				t.Errorf("FollowsTxn(%s) = %v, %v; want %v", id, got, err, want)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	h.st.Close()
	h.open()
	log, _ = h.m.Log(id)
	if log[0].Status != string(message.Delivered) {
		t.Fatalf("status after restart %q", log[0].Status)
	}
	// The contact answers: the reply continues the same session.
	h.inbound("sms", alice, "Passt, danke!")
	if log, _ = h.m.Log(id); len(log) != 2 || log[1].Dir != In {
		t.Fatalf("answer not in the campaign's session: %+v", log)
	}
}
