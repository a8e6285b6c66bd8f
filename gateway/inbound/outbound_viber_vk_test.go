package inbound

import (
	"context"
	"errors"
	"testing"

	"github.com/pbxgate/pbxgate/gateway/message"
)

type recordingSender struct{ to, text []string }

func (r *recordingSender) SendText(_ context.Context, _, to, text string) error {
	r.to, r.text = append(r.to, to), append(r.text, text)
	return nil
}

// A reply goes back on the messenger the message came in on: Viber to
// the Viber bot, VK to the VK community; without the channel it is
// ErrNoChannel, never an SMS to an id.
func TestReplyOnViberAndVK(t *testing.T) {
	vb, vk := &recordingSender{}, &recordingSender{}
	o := &Outbound{Viber: vb, VK: vk}
	ctx := context.Background()
	if err := o.Reply(ctx, message.Inbound{ID: "1", Kind: message.Viber, From: "vb01234567890A="}, "Hallo Viber"); err != nil {
		t.Fatal(err)
	}
	if err := o.Reply(ctx, message.Inbound{ID: "2", Kind: message.VK, From: "vk123456"}, "Hallo VK"); err != nil {
		t.Fatal(err)
	}
	if len(vb.to) != 1 || vb.to[0] != "vb01234567890A=" || vb.text[0] != "Hallo Viber" || len(vk.to) != 1 || vk.to[0] != "vk123456" {
		t.Fatalf("viber %+v, vk %+v", vb, vk)
	}
	if err := (&Outbound{}).Reply(ctx, message.Inbound{ID: "3", Kind: message.VK, From: "vk1"}, "x"); !errors.Is(err, ErrNoChannel) {
		t.Fatalf("without a VK channel: %v", err)
	}
}
