package session

import (
	"context"
	"errors"
	"testing"

	"github.com/pbxgate/pbxgate/gateway/message"
)

// idOutbox is a channel that, like *whatsapp.Channel, tells the id it
// gave each message it took.
type idOutbox struct{ *outbox }

func (o idOutbox) SendID(ctx context.Context, out message.Outbound) (string, error) {
	if err := o.Send(ctx, out); err != nil {
		return "", err
	}
	return "wamid.OUT-" + out.ID, nil
}

// A reply taken by an IDSender keeps the channel's id (WhatsApp: the
// wamid Meta returned) on its entry, across a restart; the contact's
// quote of it (context.id) names that id. A refused reply keeps none.
func TestReplyKeepsChannelID(t *testing.T) {
	h := newHarness(t, Target{Kind: ToExtension, ID: "201"})
	h.cfg.Channels[1].Sender = idOutbox{h.out}
	h.st.Close()
	h.open()
	ctx := context.Background()
	if err := h.m.Inbound(ctx, message.Inbound{ID: "wamid.A", Kind: message.WhatsApp, Channel: "wa", From: "491700000009", Text: "Farbe?", At: h.clock.Now()}); err != nil {
		t.Fatal(err)
	}
	s := h.only("")
	if err := h.m.Reply(ctx, s.ID, "portal:admin", "Blau oder rot."); err != nil {
		t.Fatal(err)
	}
	out := h.out.all()
	if len(out) != 1 {
		t.Fatalf("sent %+v", out)
	}
	want := "wamid.OUT-" + out[0].ID
	h.st.Close()
	h.open()
	log, err := h.m.Log(s.ID)
	if err != nil || len(log) != 2 || log[1].Dir != Out || log[1].ChannelID != want || log[0].ChannelID != "" {
		t.Fatalf("log after restart %+v %v, want the reply with channel id %s", log, err, want)
	}
	if err := h.m.Inbound(ctx, message.Inbound{ID: "wamid.B", Kind: message.WhatsApp, Channel: "wa", From: "491700000009", Text: "Blau bitte.", ReplyTo: want, At: h.clock.Now()}); err != nil {
		t.Fatal(err)
	}
	log, _ = h.m.Log(s.ID)
	if len(log) != 3 || log[2].QuoteID != log[1].ChannelID {
		t.Errorf("the contact's quote %q does not name the reply's id %q", log[2].QuoteID, log[1].ChannelID)
	}
	h.out.mu.Lock()
	h.out.err = errors.New("channel down")
	h.out.mu.Unlock()
	_ = h.m.Reply(ctx, s.ID, "portal:admin", "Geht nicht raus.")
	log, _ = h.m.Log(s.ID)
	if last := log[len(log)-1]; last.Dir != Out || last.ChannelID != "" {
		t.Errorf("refused reply %+v", last)
	}
}

// With a channel that only reports the id in its status events (a plain
// Sender), the first status carrying it sets it; a later one with
// another id does not overwrite it.
func TestStatusKeepsChannelID(t *testing.T) {
	h := newHarness(t, Target{Kind: ToExtension, ID: "201"})
	ctx := context.Background()
	if err := h.m.Inbound(ctx, message.Inbound{ID: "wamid.A", Kind: message.WhatsApp, Channel: "wa", From: "491700000009", Text: "Farbe?", At: h.clock.Now()}); err != nil {
		t.Fatal(err)
	}
	s := h.only("")
	if err := h.m.Reply(ctx, s.ID, "portal:admin", "Blau oder rot."); err != nil {
		t.Fatal(err)
	}
	id := h.out.all()[0].ID
	if err := h.m.HandleStatus(ctx, message.StatusEvent{ID: id, Status: message.Sent, ChannelID: "wamid.X"}); err != nil {
		t.Fatal(err)
	}
	if err := h.m.HandleStatus(ctx, message.StatusEvent{ID: id, Status: message.Delivered, ChannelID: "wamid.Y"}); err != nil {
		t.Fatal(err)
	}
	log, _ := h.m.Log(s.ID)
	if log[1].ChannelID != "wamid.X" || log[1].Status != string(message.Delivered) {
		t.Errorf("reply %+v, want channel id wamid.X, delivered", log[1])
	}
}
