package session

import (
	"context"
	"errors"
	"testing"

	"github.com/pbxgate/pbxgate/gateway/message"
)

// A portal user quotes the contact's WhatsApp message: the outbound
// message carries the quoted wamid (the driver turns it into Meta's
// context.message_id), the log keeps it across a restart; the contact's
// own quote (context.id) is kept on its entry, a reaction is not a quote;
// quoting one's own reply, a missing message or an SMS is refused and
// sends nothing.
func TestReplyQuoting(t *testing.T) {
	h := newHarness(t, Target{Kind: ToExtension, ID: "201"})
	ctx := context.Background()
	if err := h.m.Inbound(ctx, message.Inbound{ID: "wamid.A", Kind: message.WhatsApp, Channel: "wa", From: "491700000009", Text: "Paket 1?", At: h.clock.Now()}); err != nil {
		t.Fatal(err)
	}
	if err := h.m.Inbound(ctx, message.Inbound{ID: "wamid.B", Kind: message.WhatsApp, Channel: "wa", From: "491700000009", Text: "Und das hier?", ReplyTo: "wamid.A", At: h.clock.Now()}); err != nil {
		t.Fatal(err)
	}
	if err := h.m.Inbound(ctx, message.Inbound{ID: "wamid.C", Kind: message.WhatsApp, Channel: "wa", From: "491700000009", Text: "👍", ReplyTo: "wamid.A", Reaction: true, At: h.clock.Now()}); err != nil {
		t.Fatal(err)
	}
	s := h.only("")
	if err := h.m.ReplyQuoting(ctx, s.ID, "portal:admin", "Kommt morgen.", 1); err != nil {
		t.Fatal(err)
	}
	out := h.out.all()
	if len(out) != 1 || out[0].ReplyTo != "wamid.A" || out[0].Text != "Kommt morgen." {
		t.Fatalf("sent %+v, want the reply quoting wamid.A", out)
	}
	for _, q := range []int{4, 99} { // 4: the reply itself (Out)
		if err := h.m.ReplyQuoting(ctx, s.ID, "portal:admin", "x", q); !errors.Is(err, ErrCannotQuote) {
			t.Errorf("quote %d: %v, want ErrCannotQuote", q, err)
		}
	}
	if n := len(h.out.all()); n != 1 {
		t.Fatalf("%d messages sent, want only the valid reply", n)
	}
	h.st.Close()
	h.open()
	log, err := h.m.Log(s.ID)
	if err != nil {
		t.Fatal(err)
	}
	var quotes []string
	for _, e := range log {
		quotes = append(quotes, e.Dir+":"+e.QuoteID)
	}
	eq(t, "quotes", quotes, []string{In + ":", In + ":wamid.A", In + ":", Out + ":wamid.A"})

	h.inbound("sms", alice, "Hallo")
	ss, _ := h.m.List(true, 0)
	for _, o := range ss {
		if o.Kind == message.SMS {
			if err := h.m.ReplyQuoting(ctx, o.ID, "portal:admin", "x", 1); !errors.Is(err, ErrCannotQuote) {
				t.Errorf("quote in an SMS session: %v, want ErrCannotQuote", err)
			}
		}
	}
}
