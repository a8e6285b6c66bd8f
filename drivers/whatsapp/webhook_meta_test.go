package whatsapp_test

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pbxgate/pbxgate/drivers/whatsapp"
	"github.com/pbxgate/pbxgate/drivers/whatsapp/waemu"
	"github.com/pbxgate/pbxgate/gateway/message"
	"github.com/pbxgate/pbxgate/gateway/store"
)

// The bodies in this file are built from the webhook examples of Meta's
// OpenAPI description (business-messaging-api_v23.0.yaml, path
// /whatsapp/webhooks, copied to testdata/webhooks/) and, for statuses, from
// the StatusMessageValue schema (testdata/statuses/, see its README). Where
// a test needs a second number of the business account it changes only
// metadata.phone_number_id / display_phone_number of such an example.

// otherNumberID is a second phone number of the same business account;
// Meta's examples all use 106540352242922 (the emulator's default).
const otherNumberID = "107777777777777"

// changeOf returns the first change of a testdata notification.
func changeOf(t *testing.T, rel string) map[string]any {
	t.Helper()
	var n map[string]any
	if err := json.Unmarshal(readTestdata(t, rel), &n); err != nil {
		t.Fatal(err)
	}
	return n["entry"].([]any)[0].(map[string]any)["changes"].([]any)[0].(map[string]any)
}

// forNumber sets the change's metadata to another business number.
func forNumber(c map[string]any, id, display string) map[string]any {
	md := c["value"].(map[string]any)["metadata"].(map[string]any)
	md["phone_number_id"], md["display_phone_number"] = id, display
	return c
}

// notification wraps changes into one webhook body of one business account.
func notification(t *testing.T, changes ...any) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{"object": "whatsapp_business_account",
		"entry": []any{map[string]any{"id": "102290129340398", "changes": changes}}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestWebhookOtherNumberIgnored: Meta sends the webhooks of every number
// of the business account to the one callback. A notification with a
// message for the configured number and one for another number delivers
// only the first; the other opens no service window and its status moves
// no record.
func TestWebhookOtherNumberIgnored(t *testing.T) {
	t.Parallel()
	// The emulator's own status webhooks stop at "delivered": the only
	// "read" this test may see is the one it posts itself.
	e := newEnv(t, envConfig{emu: func(o *waemu.Options) { o.NoRead = true }})
	ctx := context.Background()
	hook := e.hookSrv.URL + whatsapp.WebhookPath
	own := changeOf(t, "webhooks/text_message.json") // to 106540352242922, configured
	other := forNumber(changeOf(t, "webhooks/text_message.json"), otherNumberID, "15550001111")
	ov := other["value"].(map[string]any)
	ov["contacts"].([]any)[0].(map[string]any)["wa_id"] = "4915100000099"
	om := ov["messages"].([]any)[0].(map[string]any)
	om["from"], om["id"] = "4915100000099", "wamid.OTHER-NUMBER-1"
	om["text"].(map[string]any)["body"] = "for the other number"
	// Written now, so a window it wrongly opened would still be open.
	now := strconv.FormatInt(time.Now().Unix(), 10)
	om["timestamp"] = now
	own["value"].(map[string]any)["messages"].([]any)[0].(map[string]any)["timestamp"] = now
	if code := postSigned(t, hook, e.opts.AppSecret, notification(t, other, own)); code != 200 {
		t.Fatalf("HTTP %d", code)
	}
	e.sinks.waitFor(t, "the own message", func() bool { return len(e.sinks.inbound) >= 1 })
	// The inbox delivers in order; a marker after it proves nothing else
	// came. (It also opens the window in the emulator, which did not see
	// the posted message.)
	e.openWindow("16505551234")
	for _, in := range e.sinks.inbound {
		if in.ID == "wamid.OTHER-NUMBER-1" || strings.Contains(in.Text, "other number") {
			t.Errorf("message for another number delivered: %+v", in)
		}
	}
	if got := e.sinks.inbound[0]; got.Text != "Does it come in another color?" || got.From != "16505551234" {
		t.Errorf("own message %+v", got)
	}
	// No service window for the other number's customer in pbxgate's
	// store, and free text to it is refused.
	if open, err := e.ch.InWindow("4915100000099"); err != nil || open {
		t.Errorf("other number's customer in the service window: %v %v", open, err)
	}
	if open, err := e.ch.InWindow("16505551234"); err != nil || !open {
		t.Errorf("own customer not in the service window: %v %v", open, err)
	}
	err := e.ch.Send(ctx, message.Outbound{ID: "to-other", To: "4915100000099", Text: "hi"})
	if !errors.Is(err, whatsapp.ErrOutsideWindow) {
		t.Errorf("free text to the other number's customer: %v, want ErrOutsideWindow", err)
	}
	// Our own message to the own customer, then a "read" for it reported
	// under the other number changes nothing; under ours it does.
	if err := e.ch.Send(ctx, message.Outbound{ID: "reply-own", To: "16505551234", Text: "Yes, in blue"}); err != nil {
		t.Fatal(err)
	}
	sent := e.emu.Sent()
	wamid := sent[len(sent)-1].WAMID
	status := func(number string) []byte {
		c := changeOf(t, "statuses/sent.json")
		if number != "" {
			forNumber(c, number, "15550001111")
		}
		st := c["value"].(map[string]any)["statuses"].([]any)[0].(map[string]any)
		st["id"], st["status"], st["recipient_id"] = wamid, "read", "16505551234"
		st["timestamp"] = "4102444800"
		delete(st, "biz_opaque_callback_data")
		return notification(t, c)
	}
	read := func() bool {
		for _, ev := range e.sinks.statuses["reply-own"] {
			if ev.Status == message.Read {
				return true
			}
		}
		return false
	}
	postSigned(t, hook, e.opts.AppSecret, status(otherNumberID))
	e.sinks.waitFor(t, "an empty queue", func() bool { return queued(t, e.st) == 0 })
	e.sinks.mu.Lock()
	if read() {
		t.Error("a status for another number marked our message read")
	}
	e.sinks.mu.Unlock()
	postSigned(t, hook, e.opts.AppSecret, status(""))
	e.sinks.waitFor(t, "read under our own number", read)

	// The emulator sends the same for a second number of its account.
	n := e.sinks.inboundCount()
	if _, err := e.emu.Inject(ctx, waemu.Inbound{From: "4915100000098", Type: "text", Text: "emulated other number", To: otherNumberID}); err != nil {
		t.Fatal(err)
	}
	e.openWindow("4917000000079")
	e.sinks.mu.Lock()
	for _, in := range e.sinks.inbound[n:] {
		if in.Text == "emulated other number" {
			t.Errorf("emulated message to another number delivered: %+v", in)
		}
	}
	e.sinks.mu.Unlock()
}

// TestWebhookBadPartKeepsOthers: one message with a field of an unexpected
// type (timestamp as a number, text as a string) does not lose the other
// messages and statuses of the notification, and the body is kept.
func TestWebhookBadPartKeepsOthers(t *testing.T) {
	t.Parallel()
	good := changeOf(t, "webhooks/text_message.json")
	bad := changeOf(t, "webhooks/text_message.json")
	bm := bad["value"].(map[string]any)["messages"].([]any)[0].(map[string]any)
	bm["id"], bm["text"] = "wamid.BAD-1", "plain string instead of {body}"
	worse := changeOf(t, "webhooks/image_message.json")
	wm := worse["value"].(map[string]any)["messages"].([]any)[0].(map[string]any)
	wm["timestamp"], wm["id"] = 1749416383, "wamid.BAD-IMAGE"
	broken := map[string]any{"field": "messages", "value": "not an object"}
	reaction := changeOf(t, "webhooks/reaction_message.json")
	// Meta's examples share one wamid; tell them apart.
	reaction["value"].(map[string]any)["messages"].([]any)[0].(map[string]any)["id"] = "wamid.REACTION"
	p, err := whatsapp.ParseNotification(notification(t, bad, broken, good, worse, reaction))
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Bad) != 3 {
		t.Errorf("bad parts %q, want 3 (text, value, image)", p.Bad)
	}
	byID := map[string]message.Inbound{}
	for _, ev := range p.Inbound {
		byID[ev.Message.ID] = ev.Message
	}
	if m := byID["wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA="]; m.Text != "Does it come in another color?" {
		t.Errorf("good text message lost: %+v", p.Inbound)
	}
	if m := byID["wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA="]; m.From == "" {
		t.Error("no sender")
	}
	if m, ok := byID["wamid.BAD-1"]; !ok || !strings.Contains(m.Unsupported, "cannot read") || m.Text == "" || m.From != "16505551234" {
		t.Errorf("unreadable message not delivered as such: %+v", m)
	}
	if m := byID["wamid.BAD-IMAGE"]; m.Unsupported == "" || m.At.Unix() != 1749416383 {
		t.Errorf("image with a numeric timestamp: %+v", m)
	}
	if m := byID["wamid.REACTION"]; m.Text != "👍" {
		t.Errorf("reaction after the bad parts: %+v", m)
	}
	if len(p.Inbound) != 4 {
		t.Errorf("%d inbound, want 4 (good, bad text, image, reaction): %+v", len(p.Inbound), p.Inbound)
	}

	// Over HTTP: the good message reaches the inbox and the body is kept.
	e := newEnv(t, envConfig{})
	hook := e.hookSrv.URL + whatsapp.WebhookPath
	if code := postSigned(t, hook, e.opts.AppSecret, notification(t, bad, good)); code != 200 {
		t.Fatalf("HTTP %d", code)
	}
	e.sinks.waitFor(t, "both messages", func() bool { return len(e.sinks.inbound) == 2 })
	e.sinks.waitFor(t, "an empty queue", func() bool { return queued(t, e.st) == 0 })
	kept := 0
	e.st.View(func(txn *store.Txn) error { kept = store.Count(txn, "wa/whbad/"); return nil })
	if kept != 1 {
		t.Errorf("%d bodies kept for inspection, want 1", kept)
	}

	// user_changed_number (Meta's system message example) is recorded
	// before Meta gets its 200, and shown to no one.
	if code := postSigned(t, hook, e.opts.AppSecret, readTestdata(t, "webhooks/system_message.json")); code != 200 {
		t.Fatalf("HTTP %d", code)
	}
	var newID string
	e.st.View(func(txn *store.Txn) error {
		item, err := txn.Get([]byte("wa/changed/16505551234"))
		if err != nil {
			return err
		}
		return item.Value(func(b []byte) error { newID = string(b); return nil })
	})
	if newID != "12195555358" {
		t.Errorf("number change recorded as %q", newID)
	}
	e.openWindow("4917000000078") // marker: the inbox delivered everything before it
	for _, in := range e.sinks.inbound {
		if strings.Contains(in.Text, "changed from") {
			t.Errorf("system notice shown as a message: %+v", in)
		}
	}
}

// TestInboundContentKept: what Meta's examples carry besides the text
// reaches the inbox message.
func TestInboundContentKept(t *testing.T) {
	t.Parallel()
	parse := func(rel string, edit func(m map[string]any)) whatsapp.InboundEvent {
		t.Helper()
		c := changeOf(t, rel)
		if edit != nil {
			edit(c["value"].(map[string]any)["messages"].([]any)[0].(map[string]any))
		}
		p, err := whatsapp.ParseNotification(notification(t, c))
		if err != nil || len(p.Inbound) != 1 || len(p.Bad) != 0 {
			t.Fatalf("%s: %v %+v", rel, err, p)
		}
		return p.Inbound[0]
	}
	// Unsupported (errors[], code 131051): shown with Meta's reason.
	u := parse("webhooks/unsupported_message.json", nil).Message
	if u.Text != "not supported by WhatsApp: Message type is currently not supported. (131051)" || u.Unsupported == "" {
		t.Errorf("unsupported: %+v", u)
	}
	// Reaction: on the message it reacts to; removal is no empty message.
	r := parse("webhooks/reaction_message.json", nil).Message
	if !r.Reaction || r.Removed || r.Text != "👍" || r.ReplyTo != "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI0RTJEOTc2ODVERUY5RDlGNkYA" {
		t.Errorf("reaction: %+v", r)
	}
	rr := parse("webhooks/reaction_message.json", func(m map[string]any) { m["reaction"].(map[string]any)["emoji"] = "" }).Message
	if !rr.Reaction || !rr.Removed || rr.Text == "" || rr.ReplyTo == "" {
		t.Errorf("removed reaction: %+v", rr)
	}
	// Interactive without its object is not an empty message.
	ie := parse("webhooks/interactive_button_reply_message.json", func(m map[string]any) { delete(m, "interactive") }).Message
	if ie.Text == "" || ie.Unsupported == "" {
		t.Errorf("interactive without object: %+v", ie)
	}
	// Reply ids and payloads.
	b := parse("webhooks/interactive_button_reply_message.json", nil).Message
	l := parse("webhooks/interactive_list_reply_message.json", nil).Message
	bt := parse("webhooks/button_message.json", nil).Message
	for name, m := range map[string]message.Inbound{"button reply": b, "list reply": l, "template button": bt} {
		if m.Payload == "" || m.Text == "" {
			t.Errorf("%s: no payload or text: %+v", name, m)
		}
	}
	if bt.Payload != "Unsubscribe" || bt.ReplyTo == "" {
		t.Errorf("template button: %+v", bt)
	}
	// context (reply-to) and referral (click-to-WhatsApp ad).
	c := parse("webhooks/text_message_with_context_product_inquiry.json", nil).Message
	if c.ReplyTo != "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGA9wcm9kdWN0X2lucXVpcnkA" {
		t.Errorf("context: %+v", c)
	}
	ad := parse("webhooks/text_message_from_click_to_whatsapp_ad.json", nil).Message
	if ad.Referral == nil || ad.Referral.SourceType != "ad" || ad.Referral.SourceID != "120226305854810726" ||
		ad.Referral.SourceURL != "https://fb.me/3cr4Wqqkv" || ad.Referral.Headline != "Chat with us" { // netscope: an ad referral URL compared, never fetched
		t.Errorf("referral: %+v", ad.Referral)
	}
	// system user_changed_number: not shown, new number kept.
	s := parse("webhooks/system_message.json", nil)
	if !s.Skip || s.NewWaID != "12195555358" || s.WaID != "16505551234" {
		t.Errorf("user_changed_number: %+v", s)
	}
}
