package inbound

import (
	"context"
	"errors"
	"testing"

	"github.com/pbxgate/pbxgate/gateway/message"
)

type recordSender struct{ to, text string }

func (r *recordSender) SendText(_ context.Context, _, to, text string) error {
	r.to, r.text = to, text
	return nil
}

// A reply to a Messenger or Instagram message goes back on that kind's
// channel; without one it is ErrNoChannel, never an SMS to an id.
func TestReplyOnMetaChannels(t *testing.T) {
	t.Parallel()
	fb := &recordSender{}
	o := &Outbound{Chats: map[message.Kind]TextSender{message.Messenger: fb}}
	if err := o.Reply(context.Background(), message.Inbound{ID: "1", Kind: message.Messenger, From: "fb4711"}, "Hallo"); err != nil {
		t.Fatal(err)
	}
	if fb.to != "fb4711" || fb.text != "Hallo" {
		t.Fatalf("sent %+v", fb)
	}
	if err := o.Reply(context.Background(), message.Inbound{ID: "2", Kind: message.Instagram, From: "ig4711"}, "Hallo"); !errors.Is(err, ErrNoChannel) {
		t.Fatalf("Instagram without a channel: %v", err)
	}
}
