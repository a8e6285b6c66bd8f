package telegram_test

// The channel against the emulator (tgemu), which follows the Bot API
// documentation (https://core.telegram.org/bots/api) and is tested against
// it in its own package. Real parts: Badger in t.TempDir(), the one inbox,
// consent, HTTP on loopback.

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pbxgate/pbxgate/drivers/telegram"
	"github.com/pbxgate/pbxgate/drivers/telegram/tgemu"
	"github.com/pbxgate/pbxgate/gateway/campaign"
	"github.com/pbxgate/pbxgate/gateway/consent"
	"github.com/pbxgate/pbxgate/gateway/inbox"
	"github.com/pbxgate/pbxgate/gateway/message"
	"github.com/pbxgate/pbxgate/gateway/store"
	"github.com/pbxgate/pbxgate/gateway/testkit"
)

type rig struct {
	emu     *tgemu.Server
	base    string
	st      *store.Store
	box     *inbox.Inbox
	got     chan message.Inbound
	consent *consent.Consent
	status  *statusLog
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

func newRig(t *testing.T, eo tgemu.Options) *rig {
	t.Helper()
	r := &rig{emu: tgemu.New(eo), st: testkit.Store(t), got: make(chan message.Inbound, 64), status: &statusLog{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r.base = "http://" + ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); _ = r.emu.Serve(ctx, ln) }()
	r.box, err = inbox.New(inbox.Config{Store: r.st})
	if err != nil {
		t.Fatal(err)
	}
	_ = r.box.Register(inbox.ConsumerFunc(func(_ context.Context, in message.Inbound) error { r.got <- in; return nil }))
	go func() { defer wg.Done(); _ = r.box.Run(ctx) }()
	r.consent, err = consent.New(consent.Config{Store: r.st})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); wg.Wait() })
	return r
}

func (r *rig) channel(t *testing.T, o telegram.Options) *telegram.Channel {
	t.Helper()
	o.BaseURL, o.Token, o.Store, o.Inbox, o.Statuses = r.base, r.emu.Options().Token, r.st, r.box, r.status
	if o.PollTimeout == 0 {
		o.PollTimeout = time.Second
	}
	o.RetryPause = 100 * time.Millisecond
	ch, err := telegram.New(o)
	if err != nil {
		t.Fatal(err)
	}
	ch.UseOptOuts(r.consent)
	return ch
}

func run(t *testing.T, ch *telegram.Channel) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = ch.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
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

// Long polling: /start with a deep-link payload becomes the opt-in keyword
// START, then text, a photo, a document, a location and a contact arrive
// in order, each once.
func TestPollingInboundKinds(t *testing.T) {
	t.Parallel()
	r := newRig(t, tgemu.Options{})
	ch := r.channel(t, telegram.Options{})
	run(t, ch)
	lat, lon := 52.520008, 13.404954
	for _, in := range []tgemu.Inbound{
		{ChatID: 4711, FirstName: "Erika", LastName: "Muster", Username: "erika", Text: "/start flyer-2026"},
		{ChatID: 4711, Text: "Wann haben Sie offen?"},
		{ChatID: 4711, Photo: "AgACphoto1", Caption: "Das Paket"},
		{ChatID: 4711, Document: "BQACdoc1", FileName: "rechnung.pdf"},
		{ChatID: 4711, Latitude: &lat, Longitude: &lon},
		{ChatID: 4711, Phone: "+4930123456"},
	} {
		if _, err := r.emu.Write(in); err != nil {
			t.Fatal(err)
		}
	}
	want := []struct{ text, media, payload string }{
		{"START", "", "flyer-2026"},
		{"Wann haben Sie offen?", "", ""},
		{"Das Paket", "image", ""},
		{"rechnung.pdf", "document", ""},
		{"52.520008, 13.404954", "location", ""},
		{"Erika +4930123456", "contact", ""},
	}
	for i, w := range want {
		in := r.next(t)
		if in.Kind != message.Telegram || in.From != "tg4711" || in.Channel != "telegram" || in.Name != "Erika Muster" ||
			in.Text != w.text || in.MediaType != w.media || in.Payload != w.payload || in.ID == "" {
			t.Fatalf("message %d: %+v; want %+v", i, in, w)
		}
		if w.media == "image" && in.MediaID != "AgACphoto1" {
			t.Fatalf("photo: took %q, want the largest size", in.MediaID)
		}
	}
	testkit.Eventually(t, "all updates confirmed", func() bool { return r.emu.Stats().Pending == 0 })
	subs, err := ch.Subscribers(context.Background())
	if err != nil || len(subs) != 1 || subs[0].ChatID != 4711 || subs[0].Payload != "flyer-2026" || subs[0].Username != "erika" {
		t.Fatalf("subscribers: %+v %v", subs, err)
	}
	select {
	case in := <-r.got:
		t.Fatalf("extra message %+v", in)
	case <-time.After(300 * time.Millisecond):
	}
}

// An update the inbox cannot store is not confirmed: polling asks for it
// again and nothing is lost.
func TestPollingDoesNotConfirmUnstored(t *testing.T) {
	t.Parallel()
	r := newRig(t, tgemu.Options{})
	var fails int
	var mu sync.Mutex
	flaky := inboxFunc(func(ctx context.Context, in message.Inbound) error {
		mu.Lock()
		defer mu.Unlock()
		if fails < 2 {
			fails++
			return errors.New("disk busy")
		}
		return r.box.Accept(ctx, in)
	})
	ch2, err := telegram.New(telegram.Options{BaseURL: r.base, Token: r.emu.Options().Token, Store: r.st, Inbox: flaky,
		PollTimeout: time.Second, RetryPause: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	run(t, ch2)
	r.emu.Write(tgemu.Inbound{ChatID: 5, Text: "bitte nicht verlieren"})
	if in := r.next(t); in.Text != "bitte nicht verlieren" {
		t.Fatalf("got %+v", in)
	}
	mu.Lock()
	defer mu.Unlock()
	if fails != 2 {
		t.Fatalf("inbox refused %d times, want 2", fails)
	}
}

type inboxFunc func(ctx context.Context, in message.Inbound) error

func (f inboxFunc) Accept(ctx context.Context, in message.Inbound) error { return f(ctx, in) }

// Webhook mode registers the webhook with a secret and takes updates only
// with the secret header.
func TestWebhookModeWithSecret(t *testing.T) {
	t.Parallel()
	r := newRig(t, tgemu.Options{})
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	ch := r.channel(t, telegram.Options{PublicURL: srv.URL, WebhookSecret: "hook_secret-1"})
	mux.Handle(telegram.WebhookPath, ch.Webhook())
	run(t, ch)
	testkit.Eventually(t, "webhook registered", func() bool { return r.emu.Stats().Webhook == srv.URL+telegram.WebhookPath })
	r.emu.Write(tgemu.Inbound{ChatID: 88, Text: "per Webhook"})
	if in := r.next(t); in.Text != "per Webhook" || in.From != "tg88" {
		t.Fatalf("got %+v", in)
	}
	// A call without the secret is refused and stores nothing.
	res, err := http.Post(srv.URL+telegram.WebhookPath, "application/json",
		strings.NewReader(`{"update_id":1,"message":{"message_id":1,"date":1,"chat":{"id":66,"type":"private"},"text":"forged"}}`))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("forged call: %d", res.StatusCode)
	}
	// The count moves after the inbox took the update, which its consumer
	// may see first.
	testkit.Eventually(t, "one update counted", func() bool { return ch.Status().Received >= 1 })
	if st := ch.Status(); st.Mode != "webhook" || st.Received != 1 {
		t.Fatalf("status %+v", st)
	}
}

// Sending: the text arrives, statuses say sent, a repeated ID is not sent
// again, and a chat gets at most one message per second (the emulator
// answers 429 otherwise, which the channel waits out).
func TestSendPacedIdempotentAndRetryAfter(t *testing.T) {
	t.Parallel()
	r := newRig(t, tgemu.Options{Slack: -1})
	ch := r.channel(t, telegram.Options{})
	r.emu.Write(tgemu.Inbound{ChatID: 31, Text: "/start"})
	ctx := context.Background()
	for i, text := range []string{"eins", "zwei", "drei"} {
		if err := ch.Send(ctx, message.Outbound{ID: "m" + string(rune('1'+i)), To: "tg31", Text: text}); err != nil {
			t.Fatal(err)
		}
	}
	if err := ch.Send(ctx, message.Outbound{ID: "m1", To: "tg31", Text: "eins"}); err != nil {
		t.Fatal(err)
	}
	sent := r.emu.SentMessages()
	if len(sent) != 3 || sent[0].Text != "eins" || sent[2].Text != "drei" {
		t.Fatalf("sent %+v", sent)
	}
	for i := 1; i < len(sent); i++ {
		if gap := sent[i].At.Sub(sent[i-1].At); gap < time.Second-5*time.Millisecond {
			t.Fatalf("messages %d and %d to one chat %s apart", i-1, i, gap)
		}
	}
	evs := r.status.all()
	if len(evs) != 3 || evs[0].Status != message.Sent || evs[0].ChannelID == "" {
		t.Fatalf("statuses %+v", evs)
	}
	// The pacer is per chat: another chat does not wait behind.
	r.emu.Write(tgemu.Inbound{ChatID: 32, Text: "/start"})
	if err := ch.Send(ctx, message.Outbound{ID: "other", To: "32", Text: "hallo"}); err != nil {
		t.Fatal(err)
	}
}

// A client that ignores the pacing gets 429 with retry_after and waits.
func TestSendWaitsOutRetryAfter(t *testing.T) {
	t.Parallel()
	r := newRig(t, tgemu.Options{PerChat: 2 * time.Second, Slack: -1})
	ch := r.channel(t, telegram.Options{}) // paces 1 s; the emulator wants 2 s
	r.emu.Write(tgemu.Inbound{ChatID: 7, Text: "/start"})
	ctx := context.Background()
	for _, id := range []string{"a", "b"} {
		if err := ch.Send(ctx, message.Outbound{ID: id, To: "tg7", Text: id}); err != nil {
			t.Fatal(err)
		}
	}
	if r.emu.Stats().Limited == 0 || len(r.emu.SentMessages()) != 2 {
		t.Fatalf("stats %+v sent %+v", r.emu.Stats(), r.emu.SentMessages())
	}
}

// 403 "bot was blocked by the user" fails the message as rejected and
// records an opt-out; a my_chat_member "kicked" update does the same
// without a send.
func TestBlockedBotIsOptOut(t *testing.T) {
	t.Parallel()
	r := newRig(t, tgemu.Options{})
	ch := r.channel(t, telegram.Options{})
	run(t, ch)
	r.emu.Write(tgemu.Inbound{ChatID: 11, Text: "/start"})
	r.emu.Write(tgemu.Inbound{ChatID: 12, Text: "/start"})
	r.next(t)
	r.next(t)
	r.emu.BlockSilently(11)
	err := ch.Send(context.Background(), message.Outbound{ID: "x", To: "tg11", Text: "Angebot"})
	if !errors.Is(err, campaign.ErrRejected) || !errors.Is(err, telegram.ErrBlocked) {
		t.Fatalf("send to a blocked bot: %v; sent %+v; st %+v", err, r.emu.SentMessages(), r.status.all())
	}
	if why, blocked := r.consent.Blocked(context.Background(), "tg11"); !blocked || !strings.Contains(why, "opted out") {
		t.Fatalf("tg11 not opted out: %q", why)
	}
	if err := r.emu.Block(12); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, "kicked update turns into an opt-out", func() bool {
		_, b := r.consent.Blocked(context.Background(), "tg12")
		return b
	})
	// An unknown chat is rejected, not an opt-out.
	err = ch.Send(context.Background(), message.Outbound{ID: "y", To: "tg999", Text: "?"})
	if !errors.Is(err, telegram.ErrChatNotFound) || !errors.Is(err, campaign.ErrRejected) {
		t.Fatalf("unknown chat: %v", err)
	}
	if _, b := r.consent.Blocked(context.Background(), "tg999"); b {
		t.Fatal("unknown chat opted out")
	}
	// Too long is refused before it goes out.
	err = ch.Send(context.Background(), message.Outbound{ID: "z", To: "tg12", Text: strings.Repeat("ä", 4097)})
	if !errors.Is(err, telegram.ErrTooLong) {
		t.Fatalf("4097 characters: %v", err)
	}
}

// A wrong token is reported as such (the portal's connection test).
func TestWrongTokenIsUnauthorized(t *testing.T) {
	t.Parallel()
	r := newRig(t, tgemu.Options{})
	c := &telegram.Client{BaseURL: r.base, Token: "1:not-the-token"}
	_, err := c.GetMe(context.Background())
	if !errors.Is(err, telegram.ErrUnauthorized) || strings.Contains(err.Error(), "not-the-token") {
		t.Fatalf("GetMe with a wrong token: %v", err)
	}
}

func TestParseChatID(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]int64{"123456789": 123456789, "tg42": 42, " tg:7 ": 7} {
		if got, err := telegram.ParseChatID(in); err != nil || got != want {
			t.Errorf("ParseChatID(%q) = %d, %v", in, got, err)
		}
	}
	for _, bad := range []string{"", "abc", "tg", "+49 30 1234", "0"} {
		if _, err := telegram.ParseChatID(bad); err == nil {
			t.Errorf("ParseChatID(%q) accepted", bad)
		}
	}
}
