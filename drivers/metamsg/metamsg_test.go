package metamsg_test

// The channel against the emulator (metaemu), whose rules follow Meta's
// Send API Reference, Common Error Codes and the Messenger Platform policy
// (tested in metaemu's own package). Real parts: Badger in t.TempDir(),
// the one inbox, consent, HTTP on loopback.

import (
	"context"
	"errors"
	"net"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pbxgate/pbxgate/drivers/metamsg"
	"github.com/pbxgate/pbxgate/drivers/metamsg/metaemu"
	"github.com/pbxgate/pbxgate/gateway/campaign"
	"github.com/pbxgate/pbxgate/gateway/consent"
	"github.com/pbxgate/pbxgate/gateway/inbox"
	"github.com/pbxgate/pbxgate/gateway/message"
	"github.com/pbxgate/pbxgate/gateway/store"
	"github.com/pbxgate/pbxgate/gateway/testkit"
)

type rig struct {
	platform metamsg.Platform
	st       *store.Store
	box      *inbox.Inbox
	got      chan message.Inbound
	consent  *consent.Consent
	status   *statusLog
	shift    atomic.Int64 // the channel's clock runs this far ahead
}

type statusLog struct {
	mu  sync.Mutex
	evs []message.StatusEvent
}

func (s *statusLog) HandleStatus(_ context.Context, ev message.StatusEvent) error {
	s.mu.Lock()
	s.evs = append(s.evs, ev)
	s.mu.Unlock()
	return nil
}

func (s *statusLog) all() []message.StatusEvent {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]message.StatusEvent(nil), s.evs...)
}

func newRig(t testing.TB, p metamsg.Platform) *rig {
	t.Helper()
	r := &rig{platform: p, st: testkit.Store(t), got: make(chan message.Inbound, 64), status: &statusLog{}}
	ctx, cancel := context.WithCancel(context.Background())
	var err error
	r.box, err = inbox.New(inbox.Config{Store: r.st})
	if err != nil {
		t.Fatal(err)
	}
	_ = r.box.Register(inbox.ConsumerFunc(func(_ context.Context, in message.Inbound) error { r.got <- in; return nil }))
	done := make(chan struct{})
	go func() { defer close(done); _ = r.box.Run(ctx) }()
	r.consent, err = consent.New(consent.Config{Store: r.st})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); <-done })
	return r
}

func (r *rig) channel(t testing.TB, o metamsg.Options) *metamsg.Channel {
	t.Helper()
	o.Store, o.Statuses = r.st, r.status
	if o.Inbox == nil {
		o.Inbox = r.box
	}
	if o.Token == "" {
		o.Token = "EMU-PAGE-TOKEN"
	}
	if o.BaseURL == "" {
		o.BaseURL = "http://127.0.0.1:1" // no API in webhook-only tests
	}
	o.Now = func() time.Time { return time.Now().Add(time.Duration(r.shift.Load())) }
	ch, err := metamsg.New(o)
	if err != nil {
		t.Fatal(err)
	}
	ch.UseOptOuts(r.consent)
	return ch
}

func (r *rig) next(t *testing.T) message.Inbound {
	t.Helper()
	select {
	case in := <-r.got:
		return in
	case <-time.After(10 * time.Second):
		t.Fatal("no inbound message within 10 s")
	}
	return message.Inbound{}
}

// none checks that nothing more reached the inbox's consumer (the inbox
// hands a stored message over at once; 300 ms is a generous bound).
func (r *rig) none(t *testing.T) {
	t.Helper()
	select {
	case in := <-r.got:
		t.Fatalf("unexpected inbound message %+v", in)
	case <-time.After(300 * time.Millisecond):
	}
}

// emulated starts the emulator and a channel wired to it both ways: the
// channel sends to the emulator, the emulator calls the channel's webhook.
func (r *rig) emulated(t *testing.T, eo metaemu.Options, o metamsg.Options) (*metaemu.Server, *metamsg.Channel) {
	t.Helper()
	var ch *metamsg.Channel
	hook := httptest.NewServer(httpHandlerFunc(func() *metamsg.Channel { return ch }))
	t.Cleanup(hook.Close)
	eo.Platform, eo.CallbackURL = r.platform, hook.URL
	if eo.AppSecret == "" {
		eo.AppSecret = secret
	}
	emu := metaemu.New(eo)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = emu.Serve(ctx, ln) }()
	t.Cleanup(func() { cancel(); <-done })
	eff := emu.Options()
	o.Platform, o.BaseURL, o.Token, o.AppSecret, o.AccountID = r.platform, "http://"+ln.Addr().String(), eff.Token, eff.AppSecret, eff.AccountID
	ch = r.channel(t, o)
	return emu, ch
}

func write(t *testing.T, emu *metaemu.Server, from, text string) {
	t.Helper()
	code, err := emu.Write(context.Background(), metaemu.Inbound{From: from, Text: text})
	if err != nil || code != 200 {
		t.Fatalf("emulated person %s: webhook %d %v", from, code, err)
	}
}

// A reply within 24 hours goes as RESPONSE, a campaign message as UPDATE;
// both are reported sent with Meta's message id; the same ID twice is sent
// once.
func TestSendWithinWindow(t *testing.T) {
	t.Parallel()
	for _, p := range []metamsg.Platform{metamsg.Messenger, metamsg.Instagram} {
		r := newRig(t, p)
		emu, ch := r.emulated(t, metaemu.Options{}, metamsg.Options{})
		write(t, emu, "4711", "Hallo")
		if in := r.next(t); in.From != ch.Address("4711") {
			t.Fatalf("%s: inbound from %q", p, in.From)
		}
		ctx := context.Background()
		if err := ch.SendText(ctx, "r1", ch.Address("4711"), "Guten Tag"); err != nil {
			t.Fatalf("%s: reply: %v", p, err)
		}
		if err := ch.Send(ctx, message.Outbound{ID: "c1", To: "4711", Text: "Angebot", Class: message.Bulk}); err != nil {
			t.Fatalf("%s: campaign: %v", p, err)
		}
		if err := ch.Send(ctx, message.Outbound{ID: "c1", To: "4711", Text: "Angebot", Class: message.Bulk}); err != nil {
			t.Fatalf("%s: campaign again: %v", p, err)
		}
		sent := emu.Sent()
		if len(sent) != 2 || sent[0].MessagingType != "RESPONSE" || sent[1].MessagingType != "UPDATE" || sent[0].To != "4711" || sent[1].Text != "Angebot" {
			t.Fatalf("%s: emulator got %+v", p, sent)
		}
		evs := r.status.all()
		if len(evs) < 2 || evs[0].Status != message.Sent || evs[0].ChannelID != sent[0].MID {
			t.Fatalf("%s: statuses %+v", p, evs)
		}
	}
}

// Outside the 24-hour window: a campaign message is refused locally; an
// agent's reply is refused without human_agent, and goes with the
// HUMAN_AGENT tag with it, until 7 days have passed. Nothing refused
// locally reaches Meta.
func TestWindowPolicy(t *testing.T) {
	t.Parallel()
	r := newRig(t, metamsg.Messenger)
	emu, ch := r.emulated(t, metaemu.Options{}, metamsg.Options{HumanAgent: true})
	_, plain := r.emulated(t, metaemu.Options{}, metamsg.Options{Name: "plain"})
	write(t, emu, "4711", "Hallo")
	r.next(t)
	ctx := context.Background()
	r.shift.Store(int64(25 * time.Hour))
	emu.Age("4711", 25*time.Hour)
	err := ch.Send(ctx, message.Outbound{ID: "c1", To: "fb4711", Text: "Angebot", Class: message.Bulk})
	if !errors.Is(err, campaign.ErrRejected) || !errors.Is(err, metamsg.ErrWindowClosed) {
		t.Fatalf("campaign after 25 h: %v", err)
	}
	if err := ch.SendText(ctx, "a1", "fb4711", "Ihr Paket ist da"); err != nil {
		t.Fatalf("agent reply after 25 h with human_agent: %v", err)
	}
	sent := emu.Sent()
	if len(sent) != 1 || sent[0].MessagingType != "MESSAGE_TAG" || sent[0].Tag != "HUMAN_AGENT" {
		t.Fatalf("emulator got %+v", sent)
	}
	// The channel without human_agent has no subscriber 4711 of its own.
	if err := plain.SendText(ctx, "p1", "fb4711", "x"); !errors.Is(err, metamsg.ErrNoUser) {
		t.Fatalf("plain channel, unknown person: %v", err)
	}
	r.shift.Store(int64(8 * 24 * time.Hour))
	if err := ch.SendText(ctx, "a2", "fb4711", "Noch da?"); !errors.Is(err, metamsg.ErrWindowClosed) {
		t.Fatalf("agent reply after 8 days: %v", err)
	}
	if n := len(emu.Sent()); n != 1 {
		t.Fatalf("%d messages reached the emulator, want 1", n)
	}
}

// Policy's table: the windows' edges.
func TestPolicy(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		age         time.Duration
		bulk, agent bool
		typ, tag    string
		closed      bool
	}{
		{time.Minute, false, false, "RESPONSE", "", false},
		{24 * time.Hour, true, false, "UPDATE", "", false},
		{24*time.Hour + time.Second, true, true, "", "", true},
		{24*time.Hour + time.Second, false, false, "", "", true},
		{24*time.Hour + time.Second, false, true, "MESSAGE_TAG", "HUMAN_AGENT", false},
		{7 * 24 * time.Hour, false, true, "MESSAGE_TAG", "HUMAN_AGENT", false},
		{7*24*time.Hour + time.Second, false, true, "", "", true},
	} {
		typ, tag, err := metamsg.Policy(t0, t0.Add(c.age), c.bulk, c.agent)
		if typ != c.typ || tag != c.tag || errors.Is(err, metamsg.ErrWindowClosed) != c.closed {
			t.Errorf("age %s bulk %v agent %v: %q %q %v", c.age, c.bulk, c.agent, typ, tag, err)
		}
	}
}

// A person who blocked the page: Meta answers 551/1545041; the message
// fails for good, the person is opted out and marked, and the next
// message is refused without asking Meta.
func TestBlockedIsOptOut(t *testing.T) {
	t.Parallel()
	r := newRig(t, metamsg.Messenger)
	emu, ch := r.emulated(t, metaemu.Options{}, metamsg.Options{})
	write(t, emu, "4711", "Hallo")
	r.next(t)
	emu.Block("4711")
	ctx := context.Background()
	err := ch.Send(ctx, message.Outbound{ID: "c1", To: "fb4711", Text: "Angebot", Class: message.Bulk})
	var ae *metamsg.APIError
	if !errors.Is(err, metamsg.ErrUnavailable) || !errors.As(err, &ae) || ae.Code != 551 || ae.Subcode != 1545041 {
		t.Fatalf("send to a blocking person: %v", err)
	}
	if _, out := r.consent.OptedOut(ctx, "fb4711"); !out {
		t.Fatal("blocking is not an opt-out")
	}
	if s, _, _ := ch.Subscriber("4711"); !s.Blocked {
		t.Fatal("subscriber not marked blocked")
	}
	if err := ch.Send(ctx, message.Outbound{ID: "c2", To: "fb4711", Text: "x"}); !errors.Is(err, metamsg.ErrUnavailable) {
		t.Fatalf("second send: %v", err)
	}
	// Writing again unblocks.
	write(t, emu, "4711", "Doch wieder")
	r.next(t)
	if s, _, _ := ch.Subscriber("4711"); s.Blocked {
		t.Fatal("subscriber still blocked after writing again")
	}
}

// Meta's rate limit (613): the channel backs off and the message goes
// once the limit allows.
func TestRateLimitBackoff(t *testing.T) {
	t.Parallel()
	r := newRig(t, metamsg.Messenger)
	emu, ch := r.emulated(t, metaemu.Options{PerSecond: 1}, metamsg.Options{PerSecond: 50})
	write(t, emu, "4711", "Hallo")
	r.next(t)
	ctx := context.Background()
	for _, id := range []string{"a", "b"} {
		if err := ch.SendText(ctx, id, "fb4711", "Nachricht "+id); err != nil {
			t.Fatalf("send %s: %v", id, err)
		}
	}
	if n := len(emu.Sent()); n != 2 {
		t.Fatalf("%d sent, want 2", n)
	}
}

// Bad input is refused before anything is sent, with the reason.
func TestSendRefusesBadInput(t *testing.T) {
	t.Parallel()
	r := newRig(t, metamsg.Instagram)
	emu, ch := r.emulated(t, metaemu.Options{}, metamsg.Options{})
	write(t, emu, "4711", "Hallo")
	r.next(t)
	ctx := context.Background()
	long := make([]byte, 1001)
	for i := range long {
		long[i] = 'a'
	}
	for name, m := range map[string]message.Outbound{
		"not an id":   {ID: "1", To: "+4930123456", Text: "x"},
		"empty":       {ID: "2", To: "ig4711", Text: "  "},
		"too long":    {ID: "3", To: "ig4711", Text: string(long)},
		"never wrote": {ID: "4", To: "ig999", Text: "x"},
		"fb on ig":    {ID: "5", To: "fb4711", Text: "x"},
	} {
		if err := ch.Send(ctx, m); !errors.Is(err, campaign.ErrRejected) {
			t.Errorf("%s: %v, want rejected", name, err)
		}
	}
	if n := len(emu.Sent()); n != 0 {
		t.Fatalf("%d messages reached the emulator", n)
	}
	if a, err := ch.NormalizeAddress("tg4711"); err != nil || a != "ig4711" {
		t.Fatalf("pasted id: %q %v", a, err)
	}
}

// The token is checked with GET /me; a wrong one is reported, never shown.
func TestCheckAccount(t *testing.T) {
	t.Parallel()
	r := newRig(t, metamsg.Messenger)
	emu, ch := r.emulated(t, metaemu.Options{}, metamsg.Options{})
	if err := ch.CheckAccount(context.Background()); err != nil {
		t.Fatal(err)
	}
	if a := ch.Status().Account; a.Name != emu.Options().Name || a.ID != emu.Options().AccountID {
		t.Fatalf("account %+v", a)
	}
	bad := r.channel(t, metamsg.Options{Platform: metamsg.Messenger, Name: "bad", BaseURL: ch.Client().BaseURL, Token: "WRONG-TOKEN-123", AppSecret: secret})
	err := bad.CheckAccount(context.Background())
	if !errors.Is(err, metamsg.ErrUnauthorized) {
		t.Fatalf("wrong token: %v", err)
	}
}

// Refusals carry reason codes the portal translates.
func TestRefusalReasonCodes(t *testing.T) {
	t.Parallel()
	r := newRig(t, metamsg.Messenger)
	emu, ch := r.emulated(t, metaemu.Options{}, metamsg.Options{})
	write(t, emu, "4711", "Hallo")
	r.next(t)
	ctx := context.Background()
	err := ch.Send(ctx, message.Outbound{ID: "1", To: "fb999", Text: "x"})
	if rc := message.ReasonOf(err); rc.Code != "meta.no_user" {
		t.Errorf("unknown person: %v, reason %+v", err, rc)
	}
	r.shift.Store(int64(25 * time.Hour))
	err = ch.Send(ctx, message.Outbound{ID: "2", To: "fb4711", Text: "x", Class: message.Bulk})
	if rc := message.ReasonOf(err); rc.Code != "meta.window" || !errors.Is(err, campaign.ErrRejected) {
		t.Errorf("window: %v, reason %+v", err, rc)
	}
}

// Meta's delivery event (message_deliveries: mids and a watermark) marks
// the sent message delivered, found by its mid.
func TestDeliveryEvent(t *testing.T) {
	t.Parallel()
	r := newRig(t, metamsg.Messenger)
	emu, ch := r.emulated(t, metaemu.Options{DeliveryDelay: 10 * time.Millisecond}, metamsg.Options{})
	write(t, emu, "4711", "Hallo")
	r.next(t)
	if err := ch.SendText(context.Background(), "d1", "fb4711", "Guten Tag"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		for _, ev := range r.status.all() {
			if ev.ID == "d1" && ev.Status == message.Delivered && ev.ChannelID == emu.Sent()[0].MID {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no delivered status within 10 s: %+v", r.status.all())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
