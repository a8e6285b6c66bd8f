package viber_test

// The channel against the emulator (viberemu, itself checked against the
// REST Bot API documentation) and against the documentation's callback
// examples (https://developers.viber.com/docs/api/rest-bot-api/#callbacks
// and https://creators.viber.com/docs/bots-api/events/), signed as Viber
// signs them. Real parts: Badger in t.TempDir(), the one inbox, consent,
// HTTP on loopback.

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

	"github.com/pbxgate/pbxgate/drivers/viber"
	"github.com/pbxgate/pbxgate/drivers/viber/viberemu"
	"github.com/pbxgate/pbxgate/gateway/campaign"
	"github.com/pbxgate/pbxgate/gateway/consent"
	"github.com/pbxgate/pbxgate/gateway/inbox"
	"github.com/pbxgate/pbxgate/gateway/message"
	"github.com/pbxgate/pbxgate/gateway/store"
	"github.com/pbxgate/pbxgate/gateway/testkit"
)

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

func (s *statusLog) has(id string, st message.Status) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ev := range s.evs {
		if ev.ID == id && ev.Status == st {
			return true
		}
	}
	return false
}

type rig struct {
	emu     *viberemu.Server
	base    string
	st      *store.Store
	box     *inbox.Inbox
	got     chan message.Inbound
	consent *consent.Consent
	status  *statusLog
	ch      *viber.Channel
	hook    *httptest.Server
}

// newRig runs the emulator, the channel and its webhook on loopback, and
// registers the webhook (the channel's Run).
func newRig(t *testing.T, eo viberemu.Options, o viber.Options) *rig {
	t.Helper()
	r := &rig{emu: viberemu.New(eo), st: testkit.Store(t), got: make(chan message.Inbound, 64), status: &statusLog{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r.base = "http://" + ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(3)
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
	var h http.Handler
	r.hook = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, q *http.Request) { h.ServeHTTP(w, q) }))
	o.BaseURL, o.Token, o.Store, o.Inbox, o.Statuses = r.base, r.emu.Options().Token, r.st, r.box, r.status
	o.PublicURL, o.RetryPause = r.hook.URL, 50*time.Millisecond
	r.ch, err = viber.New(o)
	if err != nil {
		t.Fatal(err)
	}
	h = r.ch.Webhook()
	r.ch.UseOptOuts(r.consent)
	go func() { defer wg.Done(); _ = r.ch.Run(ctx) }()
	t.Cleanup(func() { cancel(); wg.Wait(); r.hook.Close() })
	deadline := time.Now().Add(10 * time.Second)
	for r.emu.Stats().Webhook == "" {
		if time.Now().After(deadline) {
			t.Fatalf("webhook not registered: %+v", r.ch.Status())
		}
		time.Sleep(10 * time.Millisecond)
	}
	return r
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

// post sends body to the webhook signed with sig (empty: correctly).
func (r *rig) post(t *testing.T, body, sig string) (int, string) {
	t.Helper()
	if sig == "" {
		sig = viber.Sign(r.emu.Options().Token, []byte(body))
	}
	req, _ := http.NewRequest(http.MethodPost, r.hook.URL+viber.WebhookPath, strings.NewReader(body))
	req.Header.Set(viber.SignatureHeader, sig)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// The documentation's "Receive message from user" callback, signed: it
// reaches the inbox once as a text from "vb01234567890A="; the same body
// with a wrong signature is refused with 401 and stored nowhere.
func TestWebhookMessageFromDocsAndSignature(t *testing.T) {
	t.Parallel()
	r := newRig(t, viberemu.Options{}, viber.Options{})
	doc := `{"event":"message","timestamp":1457764197627,"message_token":4912661846655238145,` +
		`"sender":{"id":"01234567890A=","name":"John McClane","avatar":"http://avatar.example.com","country":"UK","language":"en","api_version":1},` + // netscope: Viber documentation example payload, never dialled
		`"message":{"type":"text","text":"a message to the service","media":"http://example.com","location":{"lat":50.76891,"lon":6.11499},"tracking_data":"tracking data"}}` // netscope: Viber documentation example payload, never dialled
	if code, _ := r.post(t, doc, strings.Repeat("0", 64)); code != http.StatusUnauthorized {
		t.Fatalf("wrong signature: %d", code)
	}
	if code, _ := r.post(t, doc, ""); code != http.StatusOK {
		t.Fatalf("signed: %d", code)
	}
	in := r.next(t)
	if in.Kind != message.Viber || in.From != "vb01234567890A=" || in.Text != "a message to the service" || in.Name != "John McClane" ||
		in.ID != "vb-4912661846655238145" || !in.At.Equal(time.UnixMilli(1457764197627).UTC()) {
		t.Fatalf("inbound %+v", in)
	}
	select {
	case extra := <-r.got:
		t.Fatalf("unsigned callback reached the inbox: %+v", extra)
	case <-time.After(200 * time.Millisecond):
	}
	subs, err := r.ch.Subscribers(context.Background())
	if err != nil || len(subs) != 1 || !subs[0].Subscribed || subs[0].Country != "UK" {
		t.Fatalf("subscribers %+v %v", subs, err)
	}
}

// The documentation's "Unsubscribed" callback is an opt-out of the user
// (consent), and the subscriber is marked; "Subscribed" is the opt-in
// keyword START; "Conversation started" gets the welcome message as the
// callback's answer.
func TestSubscribeUnsubscribeAndWelcome(t *testing.T) {
	t.Parallel()
	r := newRig(t, viberemu.Options{}, viber.Options{Welcome: "Willkommen beim Kundendienst!", SenderName: "Kundendienst"})
	started := `{"event":"conversation_started","timestamp":1457764197627,"message_token":4912661846655238145,"type":"open",` +
		`"context":"flyer-2026","user":{"id":"01234567890A=","name":"John McClane","avatar":"http://avatar.example.com","country":"UK","language":"en","api_version":1},"subscribed":false}` // netscope: Viber documentation example payload, never dialled
	code, body := r.post(t, started, "")
	if code != http.StatusOK || !strings.Contains(body, `"text":"Willkommen beim Kundendienst!"`) || !strings.Contains(body, `"name":"Kundendienst"`) ||
		!strings.Contains(body, `"type":"text"`) {
		t.Fatalf("conversation_started: %d %s", code, body)
	}
	subscribed := `{"event":"subscribed","timestamp":1457764197627,"user":{"id":"01234567890A=","name":"John McClane","avatar":"http://avatar.example.com","country":"UK","language":"en","api_version":1},"message_token":4912661846655238145}` // netscope: Viber documentation example payload, never dialled
	if code, _ := r.post(t, subscribed, ""); code != http.StatusOK {
		t.Fatal(code)
	}
	if in := r.next(t); in.Text != "START" || in.From != "vb01234567890A=" {
		t.Fatalf("subscribed: %+v", in)
	}
	unsub := `{"event":"unsubscribed","timestamp":1457764197627,"user_id":"01234567890A=","message_token":4912661846655238145}`
	if code, _ := r.post(t, unsub, ""); code != http.StatusOK {
		t.Fatal(code)
	}
	if _, out := r.consent.OptedOut(context.Background(), "vb01234567890A="); !out {
		t.Fatal("unsubscribed user is not opted out")
	}
	subs, _ := r.ch.Subscribers(context.Background())
	if len(subs) != 1 || subs[0].Subscribed || !subs[0].Unsubscribed || subs[0].Context != "flyer-2026" {
		t.Fatalf("subscribers %+v", subs)
	}
}

// Sending through the emulator: a subscriber gets the text with the
// sender name (delivered comes back by webhook as Delivered), a
// message ID is sent once, a user who never wrote is rejected (status
// 5), and status 12 is waited out.
func TestSendReceiptsAndRejections(t *testing.T) {
	t.Parallel()
	r := newRig(t, viberemu.Options{PerSecond: 1}, viber.Options{PerSecond: 50})
	ctx := context.Background()
	if _, err := r.emu.Write(ctx, "abcDEF123+/=", "Erika", "Hallo"); err != nil {
		t.Fatal(err)
	}
	r.next(t)
	for i, id := range []string{"m1", "m2"} {
		if err := r.ch.Send(ctx, message.Outbound{ID: id, To: "vbabcDEF123+/=", Text: "Antwort " + id}); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	if err := r.ch.Send(ctx, message.Outbound{ID: "m1", To: "vbabcDEF123+/=", Text: "Antwort m1"}); err != nil {
		t.Fatal(err)
	}
	sent := r.emu.SentMessages()
	if len(sent) != 2 || sent[0].Text != "Antwort m1" || sent[0].Sender != "pbxgate Demo" || sent[0].Receiver != "abcDEF123+/=" {
		t.Fatalf("sent %+v", sent)
	}
	if r.emu.Stats().Limited == 0 {
		t.Fatal("the second send within a second was not rate limited by the emulator")
	}
	deadline := time.Now().Add(10 * time.Second)
	for !r.status.has("m1", message.Delivered) || !r.status.has("m2", message.Delivered) {
		if time.Now().After(deadline) {
			t.Fatalf("no delivered status: %+v", r.status.evs)
		}
		time.Sleep(20 * time.Millisecond)
	}
	err := r.ch.Send(ctx, message.Outbound{ID: "m3", To: "vbnobody=", Text: "x"})
	if !errors.Is(err, campaign.ErrRejected) || !errors.Is(err, viber.ErrNotSubscribed) {
		t.Fatalf("to a stranger: %v", err)
	}
	if err := r.ch.Send(ctx, message.Outbound{ID: "m4", To: "vbabc", Text: strings.Repeat("x", 7001)}); !errors.Is(err, viber.ErrTooLong) {
		t.Fatalf("too long: %v", err)
	}
}

// A wrong token is reported (status 2) without the token in the error.
func TestWrongTokenNotLogged(t *testing.T) {
	t.Parallel()
	emu := viberemu.New(viberemu.Options{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = emu.Serve(ctx, ln) }()
	c := &viber.Client{BaseURL: "http://" + ln.Addr().String(), Token: "secret-token-123"}
	_, err = c.GetAccountInfo(ctx)
	if !errors.Is(err, viber.ErrUnauthorized) || strings.Contains(err.Error(), "secret-token-123") {
		t.Fatalf("err %v", err)
	}
	c.Token = emu.Options().Token
	info, err := c.GetAccountInfo(ctx)
	if err != nil || info.URI != "pbxgatedemo" {
		t.Fatalf("%+v %v", info, err)
	}
}
