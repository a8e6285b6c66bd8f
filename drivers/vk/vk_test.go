package vk_test

// The channel against the emulator (vkemu, itself checked against VK's
// documentation) and against the documentation's Callback API examples
// (https://dev.vk.com/en/api/callback/getting-started: the confirmation
// request, the secret key, "ok"). Real parts: Badger in t.TempDir(), the
// one inbox, consent, HTTP on loopback.

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pbxgate/pbxgate/drivers/vk"
	"github.com/pbxgate/pbxgate/drivers/vk/vkemu"
	"github.com/pbxgate/pbxgate/gateway/campaign"
	"github.com/pbxgate/pbxgate/gateway/consent"
	"github.com/pbxgate/pbxgate/gateway/inbox"
	"github.com/pbxgate/pbxgate/gateway/message"
	"github.com/pbxgate/pbxgate/gateway/store"
	"github.com/pbxgate/pbxgate/gateway/testkit"
)

type rig struct {
	emu     *vkemu.Server
	base    string
	st      *store.Store
	box     *inbox.Inbox
	got     chan message.Inbound
	consent *consent.Consent
}

type failingInbox struct {
	*inbox.Inbox
	mu   sync.Mutex
	fail int // the next n Accepts fail
}

func (f *failingInbox) Accept(ctx context.Context, in message.Inbound) error {
	f.mu.Lock()
	if f.fail > 0 {
		f.fail--
		f.mu.Unlock()
		return errors.New("disk full")
	}
	f.mu.Unlock()
	return f.Inbox.Accept(ctx, in)
}

func newRig(t *testing.T, eo vkemu.Options) *rig {
	t.Helper()
	r := &rig{emu: vkemu.New(eo), st: testkit.Store(t), got: make(chan message.Inbound, 64)}
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

func (r *rig) channel(t *testing.T, o vk.Options) *vk.Channel {
	t.Helper()
	o.BaseURL, o.Token, o.GroupID, o.Store = r.base, r.emu.Options().Token, r.emu.Options().GroupID, r.st
	if o.Inbox == nil {
		o.Inbox = r.box
	}
	if o.PollWait == 0 {
		o.PollWait = time.Second
	}
	o.RetryPause = 50 * time.Millisecond
	ch, err := vk.New(o)
	if err != nil {
		t.Fatal(err)
	}
	ch.UseOptOuts(r.consent)
	return ch
}

// run starts the channel and waits until it opened its long-poll session
// (VK delivers only events after the session's ts).
func (r *rig) run(t *testing.T, ch *vk.Channel) func() {
	t.Helper()
	before := r.emu.Stats().Calls["groups.getLongPollServer"]
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = ch.Run(ctx) }()
	var once sync.Once
	stop := func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	deadline := time.Now().Add(10 * time.Second)
	for r.emu.Stats().Calls["groups.getLongPollServer"] == before {
		if time.Now().After(deadline) {
			t.Fatalf("no long-poll session: %+v", ch.Status())
		}
		time.Sleep(5 * time.Millisecond)
	}
	return stop
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

// Long poll: a message, message_allow (the opt-in START with the link's
// key) and message_deny (an opt-out in consent) arrive in order; after an
// expired key (failed 2) and lost information (failed 3) the channel opens
// a new session and keeps receiving.
func TestLongPollInboundAllowDenyAndRecovery(t *testing.T) {
	t.Parallel()
	r := newRig(t, vkemu.Options{})
	ch := r.channel(t, vk.Options{})
	r.run(t, ch)
	r.emu.Write(123456, "Guten Tag")
	in := r.next(t)
	if in.Kind != message.VK || in.From != "vk123456" || in.Text != "Guten Tag" || in.Channel != "vk" || in.Receiver != "pbxgate_demo" {
		t.Fatalf("inbound %+v", in)
	}
	r.emu.Allow(654321, "flyer-2026")
	if in := r.next(t); in.Text != "START" || in.Payload != "flyer-2026" || in.From != "vk654321" {
		t.Fatalf("message_allow: %+v", in)
	}
	r.emu.Deny(654321)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if o, out := r.consent.OptedOut(context.Background(), "vk654321"); out {
			if o.Channel != "vk" {
				t.Fatalf("opt-out %+v", o)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("message_deny did not opt out")
		}
		time.Sleep(20 * time.Millisecond)
	}
	r.emu.ExpireKey()
	r.emu.Write(123456, "nach dem Schlüsselwechsel")
	if in := r.next(t); in.Text != "nach dem Schlüsselwechsel" {
		t.Fatalf("after failed 2: %+v", in)
	}
	r.emu.LoseInformation()
	time.Sleep(100 * time.Millisecond)
	r.emu.Write(123456, "nach failed 3")
	if in := r.next(t); in.Text != "nach failed 3" {
		t.Fatalf("after failed 3: %+v", in)
	}
	subs, err := ch.Subscribers(context.Background())
	if err != nil || len(subs) != 2 {
		t.Fatalf("subscribers %+v %v", subs, err)
	}
	for _, s := range subs {
		if s.UserID == 654321 && (!s.Denied || s.Key != "flyer-2026") {
			t.Fatalf("denied subscriber %+v", s)
		}
	}
}

// An event the inbox cannot store is not confirmed: ts is not advanced,
// so the next a_check hands it over again; the position survives a
// restart of the channel, which then gets only what is new.
func TestLongPollUnstoredEventAskedAgainAndTSKept(t *testing.T) {
	t.Parallel()
	r := newRig(t, vkemu.Options{})
	fi := &failingInbox{Inbox: r.box, fail: 2}
	ch := r.channel(t, vk.Options{Inbox: fi})
	stop := r.run(t, ch)
	r.emu.Write(1, "eins")
	if in := r.next(t); in.Text != "eins" {
		t.Fatalf("%+v", in)
	}
	stop()
	r.emu.Write(1, "zwei")
	ch2 := r.channel(t, vk.Options{})
	r.run(t, ch2)
	if in := r.next(t); in.Text != "zwei" {
		t.Fatalf("after restart: %+v", in)
	}
	select {
	case in := <-r.got:
		t.Fatalf("delivered again after restart: %+v", in)
	case <-time.After(300 * time.Millisecond):
	}
}

// Sending: a user who wrote gets the text; the same message ID is not
// sent twice (the store, and random_id at VK); a user without permission
// is rejected (901); error 6 is waited out; the token never shows in
// errors.
func TestSendRules(t *testing.T) {
	t.Parallel()
	r := newRig(t, vkemu.Options{PerSecond: 3})
	ch := r.channel(t, vk.Options{PerSecond: 20})
	ctx := context.Background()
	r.emu.Write(123456, "Hallo")
	for _, id := range []string{"a", "b", "c", "d", "a"} {
		if err := ch.Send(ctx, message.Outbound{ID: id, To: "vk123456", Text: "Antwort " + id}); err != nil {
			t.Fatalf("send %s: %v", id, err)
		}
	}
	sent := r.emu.SentMessages()
	if len(sent) != 4 || sent[0].Text != "Antwort a" || sent[0].PeerID != 123456 || sent[0].RandomID != int64(vk.RandomID("a")) {
		t.Fatalf("sent %+v", sent)
	}
	if r.emu.Stats().Limited == 0 {
		t.Fatal("4 sends at 20/s against an emulator allowing 3/s: no error 6 to wait out")
	}
	err := ch.Send(ctx, message.Outbound{ID: "x", To: "vk999", Text: "Werbung"})
	if !errors.Is(err, campaign.ErrRejected) || !errors.Is(err, vk.ErrNoPermission) {
		t.Fatalf("without permission: %v", err)
	}
	bad := &vk.Client{BaseURL: r.base, Token: "secret-token-xyz"}
	_, err = bad.GetGroup(ctx, 1)
	if !errors.Is(err, vk.ErrUnauthorized) || strings.Contains(err.Error(), "secret-token-xyz") {
		t.Fatalf("bad token: %v", err)
	}
}

// A lost answer to messages.send is retried with the same random_id: VK
// (the emulator) sends the message once.
func TestLostAnswerRetriedWithSameRandomID(t *testing.T) {
	t.Parallel()
	r := newRig(t, vkemu.Options{})
	r.emu.Write(5, "Hallo")
	var mu sync.Mutex
	drops := 1
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, q *http.Request) {
		body, _ := io.ReadAll(q.Body)
		req, _ := http.NewRequest(q.Method, r.base+q.URL.Path, strings.NewReader(string(body)))
		req.Header = q.Header.Clone()
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer res.Body.Close()
		out, _ := io.ReadAll(res.Body)
		mu.Lock()
		drop := drops > 0 && strings.HasSuffix(q.URL.Path, "messages.send")
		if drop {
			drops--
		}
		mu.Unlock()
		if drop { // VK sent it, but the answer is lost
			hj, _ := w.(http.Hijacker)
			c, _, _ := hj.Hijack()
			c.Close()
			return
		}
		_, _ = w.Write(out)
	}))
	t.Cleanup(proxy.Close)
	ch, err := vk.New(vk.Options{BaseURL: proxy.URL, Token: r.emu.Options().Token, GroupID: r.emu.Options().GroupID,
		Store: r.st, RetryPause: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := ch.Send(context.Background(), message.Outbound{ID: "once", To: "vk5", Text: "einmal"}); err != nil {
		t.Fatal(err)
	}
	if sent := r.emu.SentMessages(); len(sent) != 1 {
		t.Fatalf("sent %d times: %+v", len(sent), sent)
	}
}

// Callback API, with the documentation's bodies: the confirmation request
// gets the confirmation string; an event without the secret key is
// refused; message_new with it is stored and answered "ok"; an event for
// another community is refused.
func TestCallbackHandshakeSecretAndMessage(t *testing.T) {
	t.Parallel()
	r := newRig(t, vkemu.Options{})
	ch := r.channel(t, vk.Options{Receive: vk.Callback, Confirmation: "d8v2ve07", Secret: "s3cr3t"})
	srv := httptest.NewServer(ch.Webhook())
	t.Cleanup(srv.Close)
	gid := "229000001"
	post := func(body string) (int, string) {
		res, err := http.Post(srv.URL, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	if code, body := post(`{"type":"confirmation","group_id":` + gid + `}`); code != 200 || body != "d8v2ve07" {
		t.Fatalf("confirmation: %d %q", code, body)
	}
	msg := `{"type":"message_new","object":{"message":{"date":1588888888,"from_id":123456,"id":57,"out":0,"peer_id":123456,"text":"Привет","conversation_message_id":1,"fwd_messages":[],"important":false,"random_id":0,"attachments":[],"is_hidden":false},"client_info":{"button_actions":["text"],"keyboard":true,"inline_keyboard":true,"carousel":false,"lang_id":0}},"group_id":` + gid + `,"event_id":"c68dfb983247fea8ac98ea0ea59717df71d8064f","v":"5.199"`
	if code, _ := post(msg + `,"secret":"wrong"}`); code != http.StatusForbidden {
		t.Fatalf("wrong secret: %d", code)
	}
	if code, _ := post(strings.Replace(msg, gid, "1", 1) + `,"secret":"s3cr3t"}`); code != http.StatusForbidden {
		t.Fatalf("other community: %d", code)
	}
	if code, body := post(msg + `,"secret":"s3cr3t"}`); code != 200 || body != "ok" {
		t.Fatalf("message_new: %d %q", code, body)
	}
	in := r.next(t)
	if in.From != "vk123456" || in.Text != "Привет" || in.ID != "vk-123456-57" || !in.At.Equal(time.Unix(1588888888, 0).UTC()) {
		t.Fatalf("inbound %+v", in)
	}
	if code, _ := post(`{"type":"message_deny","object":{"user_id":123456},"group_id":` + gid + `,"secret":"s3cr3t"}`); code != 200 {
		t.Fatal(code)
	}
	if _, out := r.consent.OptedOut(context.Background(), "vk123456"); !out {
		t.Fatal("message_deny by callback did not opt out")
	}
}
