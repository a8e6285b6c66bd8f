package whatsapp_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/pbxgate/pbxgate/drivers/whatsapp"
	"github.com/pbxgate/pbxgate/drivers/whatsapp/waemu"
	"github.com/pbxgate/pbxgate/gateway/message"
)

const (
	secondID      = "106540352242933"
	secondDisplay = "15550783999"
	secondName    = "whatsapp-service"
	unknownID     = "106540352242944"
)

// twoNumbers is an env whose emulator serves a second number of the same
// business account, with a second channel on the same store and inbox,
// both grouped behind one webhook (as Meta sends every number's webhooks
// to the one callback).
func twoNumbers(t *testing.T) (*env, *whatsapp.Channel, *whatsapp.Numbers) {
	t.Helper()
	e := newEnv(t, envConfig{emu: func(o *waemu.Options) {
		o.Numbers = []waemu.Number{{PhoneNumberID: secondID, DisplayPhoneNumber: secondDisplay}}
		o.PairInterval = time.Millisecond
		o.NoRead = true
	}, ch: func(o *whatsapp.Options) { o.PairInterval = time.Millisecond }})
	o2 := e.opts
	o2.Name, o2.PhoneNumberID, o2.StoreScope, o2.DisplayName = secondName, secondID, secondID, "Service"
	o2.Inbox = e.inbox
	o2.Logger = e.opts.Logger
	second, err := whatsapp.New(o2)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(e.ctx)
	var wg sync.WaitGroup
	wg.Go(func() { second.Run(ctx) })
	t.Cleanup(func() { cancel(); wg.Wait() })
	g, err := whatsapp.NewNumbers(e.ch, second)
	if err != nil {
		t.Fatal(err)
	}
	return e, second, g
}

// TestNumbersRouteInboundAndReplies: a customer of the second number
// writes; the message lands on that number's channel, opens only that
// number's service window, and replies — also those asked of the primary
// without naming a channel, like keyword answers — leave from it; its
// statuses reach its records.
func TestNumbersRouteInboundAndReplies(t *testing.T) {
	t.Parallel()
	e, second, g := twoNumbers(t)
	if g.ByName(secondName) != second || g.ByPhoneNumberID(secondID) != second || len(g.Channels()) != 2 {
		t.Fatalf("group lookups wrong")
	}
	ctx := context.Background()
	const customer = "4915112345077"
	if _, err := e.emu.Inject(ctx, waemu.Inbound{From: customer, Name: "Kim", Type: "text", Text: "Hallo Service", To: secondID}); err != nil {
		t.Fatal(err)
	}
	e.sinks.waitFor(t, "inbound", func() bool { return len(e.sinks.inbound) == 1 })
	in := e.sinks.inbound[0]
	if in.Channel != secondName || in.Receiver != secondDisplay {
		t.Errorf("inbound on channel %q receiver %q, want %q %q", in.Channel, in.Receiver, secondName, secondDisplay)
	}
	if ok, _ := second.InWindow(customer); !ok {
		t.Error("second number's window not open")
	}
	if ok, _ := e.ch.InWindow(customer); ok {
		t.Error("primary number's window opened by a message to the second number")
	}

	// A reply asked of the primary without a channel (keyword answer).
	if err := e.ch.SendText(ctx, "reply-1", "+"+customer, "Danke!"); err != nil {
		t.Fatalf("reply: %v", err)
	}
	// A session reply naming the second number's channel.
	if err := e.ch.Send(ctx, message.Outbound{ID: "reply-2", Channel: secondName, To: "+" + customer, Text: "Gern"}); err != nil {
		t.Fatalf("session reply: %v", err)
	}
	from := map[string]string{}
	for _, s := range e.emu.Sent() {
		from[s.Callback] = s.From
	}
	for _, id := range []string{"reply-1", "reply-2"} {
		if from[id] != secondID {
			t.Errorf("%s left from %q, want the second number %s", id, from[id], secondID)
		}
	}
	// The statuses carry the second number's metadata and reach the records.
	e.sinks.waitFor(t, "delivered statuses", func() bool {
		return len(e.sinks.statuses["reply-1"]) >= 2 && len(e.sinks.statuses["reply-2"]) >= 2
	})
	for _, id := range []string{"reply-1", "reply-2"} {
		// The record is written by the webhook's queue, not in the
		// sinks' call: wait for it too (the emulator may already have
		// reported "read").
		e.sinks.waitFor(t, id+" delivered in its record", func() bool {
			r, err := e.ch.Record(id)
			return err == nil && (r.Status == message.Delivered || r.Status == message.Read)
		})
		if ev := e.sinks.statuses[id][0]; ev.Sender != secondID {
			t.Errorf("%s status sender %q, want %s", id, ev.Sender, secondID)
		}
	}
	// A template (not bound to a window) from the primary stays there.
	wamid, err := e.ch.SendMessage(ctx, "tpl-1", "+"+customer, whatsapp.TemplateMessage("hello_world", "en_US"))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range e.emu.Sent() {
		if s.WAMID == wamid && s.From != e.emu.Options().PhoneNumberID {
			t.Errorf("template left from %s, want the primary", s.From)
		}
	}
}

// TestNumbersIgnoreUnconfiguredNumber: a notification for a number of the
// account that pbxgate does not serve changes nothing — no inbox entry, no
// window on any number — and is answered 200 so Meta does not retry it.
// The body is Meta's published text-message example
// (testdata/webhooks/text_message.json) addressed to that number.
func TestNumbersIgnoreUnconfiguredNumber(t *testing.T) {
	t.Parallel()
	e, second, _ := twoNumbers(t)
	body := strings.Replace(string(readTestdata(t, "webhooks/text_message.json")), `"106540352242922"`, `"`+unknownID+`"`, 1)
	if !strings.Contains(body, unknownID) {
		t.Fatal("example not rewritten")
	}
	post := func(b string) int {
		req, _ := http.NewRequest(http.MethodPost, e.hookSrv.URL+whatsapp.WebhookPath, strings.NewReader(b))
		req.Header.Set(whatsapp.SignatureHeader, whatsapp.Sign(e.opts.AppSecret, []byte(b)))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post(body); code != http.StatusOK {
		t.Fatalf("webhook answered %d", code)
	}
	// Meta's example to the primary number after it: once that is in, the
	// other one would have been too.
	primary := string(readTestdata(t, "webhooks/text_message.json"))
	if code := post(primary); code != http.StatusOK {
		t.Fatalf("webhook answered %d", code)
	}
	e.sinks.waitFor(t, "the primary's message", func() bool { return len(e.sinks.inbound) >= 1 })
	time.Sleep(50 * time.Millisecond) // a stray second delivery would show now
	e.sinks.mu.Lock()
	n, ch := len(e.sinks.inbound), e.sinks.inbound[0].Channel
	e.sinks.mu.Unlock()
	if n != 1 || ch != e.ch.Name() {
		t.Errorf("%d inbound, first on %q; want only the primary's", n, ch)
	}
	const sender = "16505551234"
	if ok, _ := second.InWindow(sender); ok {
		t.Error("the unconfigured number's message opened the second number's window")
	}
}

// TestNumbersOneNotificationTwoNumbers: Meta can batch changes for several
// numbers of the account in one notification (one entry per change); each
// message lands on its own number. Built from Meta's text-message example.
func TestNumbersOneNotificationTwoNumbers(t *testing.T) {
	t.Parallel()
	e, _, _ := twoNumbers(t)
	var n map[string]any
	if err := json.Unmarshal(readTestdata(t, "webhooks/text_message.json"), &n); err != nil {
		t.Fatal(err)
	}
	entry := n["entry"].([]any)[0].(map[string]any)
	change := entry["changes"].([]any)[0].(map[string]any)
	b, _ := json.Marshal(change)
	var change2 map[string]any
	json.Unmarshal(b, &change2)
	v2 := change2["value"].(map[string]any)
	v2["metadata"] = map[string]any{"display_phone_number": secondDisplay, "phone_number_id": secondID}
	msg2 := v2["messages"].([]any)[0].(map[string]any)
	msg2["id"] = "wamid.second-number-message"
	entry["changes"] = append(entry["changes"].([]any), change2)
	body, _ := json.Marshal(n)
	req, _ := http.NewRequest(http.MethodPost, e.hookSrv.URL+whatsapp.WebhookPath, bytes.NewReader(body))
	req.Header.Set(whatsapp.SignatureHeader, whatsapp.Sign(e.opts.AppSecret, body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("webhook answered %s", resp.Status)
	}
	e.sinks.waitFor(t, "two inbound", func() bool { return len(e.sinks.inbound) == 2 })
	got := map[string]string{}
	for _, in := range e.sinks.inbound {
		got[in.ID] = in.Channel
	}
	if got["wamid.second-number-message"] != secondName || got["wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA="] != e.ch.Name() {
		t.Errorf("channels by message: %v", got)
	}
	// A wrong signature is refused for the whole group.
	req, _ = http.NewRequest(http.MethodPost, e.hookSrv.URL+whatsapp.WebhookPath, bytes.NewReader(body))
	req.Header.Set(whatsapp.SignatureHeader, whatsapp.Sign("wrong", body))
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("bad signature answered %s", resp.Status)
	}
}

// TestNewNumbersRefusesConflicts: two numbers with one id, one name or one
// store scope, or from different apps, cannot be grouped.
func TestNewNumbersRefusesConflicts(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envConfig{})
	mk := func(f func(o *whatsapp.Options)) *whatsapp.Channel {
		o := e.opts
		o.Name, o.PhoneNumberID, o.StoreScope = "wa2", secondID, secondID
		f(&o)
		ch, err := whatsapp.New(o)
		if err != nil {
			t.Fatal(err)
		}
		return ch
	}
	cases := map[string]struct {
		ch   *whatsapp.Channel
		want string
	}{
		"same id":     {mk(func(o *whatsapp.Options) { o.PhoneNumberID = e.opts.PhoneNumberID }), "configured twice"},
		"same name":   {mk(func(o *whatsapp.Options) { o.Name = e.ch.Name() }), "used by two numbers"},
		"same scope":  {mk(func(o *whatsapp.Options) { o.StoreScope = "" }), "store scope"},
		"another app": {mk(func(o *whatsapp.Options) { o.AppSecret = "other" }), "one Meta app"},
	}
	for name, c := range cases {
		if _, err := whatsapp.NewNumbers(e.ch, c.ch); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", name, err, c.want)
		}
	}
}

// TestWebhookDefaultLimitTakesLargeNotifications: with the default limit
// (whatsapp.webhook_max_bytes, 3 MiB) a 2.5 MiB notification — Meta's
// text-message example padded with JSON whitespace — is taken, through the
// group webhook of two numbers too; one above the limit gets 413.
func TestWebhookDefaultLimitTakesLargeNotifications(t *testing.T) {
	t.Parallel()
	e, _, _ := twoNumbers(t)
	hook := e.hookSrv.URL + whatsapp.WebhookPath
	ex := readTestdata(t, "webhooks/text_message.json")
	big := append(bytes.Repeat([]byte(" "), 5<<19), ex...) // 2.5 MiB
	if code := postSigned(t, hook, e.opts.AppSecret, big); code != http.StatusOK {
		t.Fatalf("2.5 MiB notification: HTTP %d, want 200", code)
	}
	e.sinks.waitFor(t, "the padded message", func() bool { return len(e.sinks.inbound) == 1 })
	huge := append(bytes.Repeat([]byte(" "), 3<<20), ex...)
	if code := postSigned(t, hook, e.opts.AppSecret, huge); code != http.StatusRequestEntityTooLarge {
		t.Errorf("3 MiB + example: HTTP %d, want 413", code)
	}
}

// TestMarkReadWithTypingIndicator: the read receipt with typing indicator
// has exactly the shape of Meta's example "Send typing indicator and read
// receipt" (Meta's OpenAPI description, messages call); the emulator takes
// it for a message the number received and refuses one it did not, and
// a second number's message is marked read from that number.
func TestMarkReadWithTypingIndicator(t *testing.T) {
	t.Parallel()
	e, second, _ := twoNumbers(t)
	ctx := context.Background()
	wamid, err := e.emu.Inject(ctx, waemu.Inbound{From: "4915112345111", Type: "text", Text: "Hallo?", To: secondID})
	if err != nil {
		t.Fatal(err)
	}
	if err := second.MarkRead(ctx, wamid, true); err != nil {
		t.Fatalf("mark read: %v", err)
	}
	if err := second.MarkRead(ctx, wamid, false); err != nil {
		t.Fatalf("mark read without typing: %v", err)
	}
	reads := e.emu.Reads()
	if len(reads) != 2 || reads[0].From != secondID || reads[0].MessageID != wamid || !reads[0].Typing || reads[1].Typing {
		t.Errorf("emulator reads %+v", reads)
	}
	// The message went to the second number: the primary cannot mark it.
	var ae *whatsapp.APIError
	if err := e.ch.MarkRead(ctx, wamid, false); !errors.As(err, &ae) || ae.Code != 100 {
		t.Errorf("primary marking the second number's message: %v, want (#100)", err)
	}
	if err := second.MarkRead(ctx, "not-a-wamid", false); !errors.Is(err, whatsapp.ErrInvalidMessage) {
		t.Errorf("bad id: %v", err)
	}
	// The body against Meta's example.
	b, _ := json.Marshal(whatsapp.ReadRequest{MessagingProduct: "whatsapp", Status: "read", MessageID: wamid,
		TypingIndicator: &whatsapp.TypingIndicator{Type: "text"}})
	var ex map[string]any
	raw, err := os.ReadFile("metaschema/testdata/message_examples.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(raw, &ex); err != nil {
		t.Fatal(err)
	}
	want, _ := json.Marshal(ex["Send typing indicator and read receipt"])
	if got, w := shapeOf(t, b), shapeOf(t, want); !reflect.DeepEqual(got, w) {
		t.Errorf("read receipt shape %v, Meta's example %v", got, w)
	}
}

// TestNumbersShareTemplateStatus: a template paused by Meta (one
// account-level webhook, no phone number) is refused on every number of
// the account at once.
func TestNumbersShareTemplateStatus(t *testing.T) {
	t.Parallel()
	e, second, _ := twoNumbers(t)
	ctx := context.Background()
	for _, ch := range []*whatsapp.Channel{e.ch, second} {
		if err := ch.Templates().Sync(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.emu.SetTemplateStatus(ctx, "hello_world", "en_US", "DISABLED", "NONE", "DISABLED", "Your WhatsApp message template has been disabled."); err != nil {
		t.Fatal(err)
	}
	for _, ch := range []*whatsapp.Channel{e.ch, second} {
		_, err := ch.SendMessage(ctx, "d-"+ch.Name(), "+4915112345444", whatsapp.TemplateMessage("hello_world", "en_US"))
		if !errors.Is(err, whatsapp.ErrTemplate) || !strings.Contains(err.Error(), "DISABLED") {
			t.Errorf("%s: %v, want the disabled template refused", ch.Name(), err)
		}
	}
}
