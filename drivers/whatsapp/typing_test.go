package whatsapp_test

import (
	"context"
	"testing"
	"time"

	"github.com/pbxgate/pbxgate/drivers/whatsapp"
	"github.com/pbxgate/pbxgate/drivers/whatsapp/waemu"
)

// ShowTyping sends Meta's read receipt with typing_indicator (the
// emulator accepts only the shape of Meta's example "Send typing
// indicator and read receipt", for a message this number received) at
// most once per TypingInterval per message, however often the agent's
// keystrokes ask; after the interval it is shown again; a refused
// message id is an error and does not block a later try.
func TestShowTypingRateLimited(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envConfig{virtual: true})
	ctx := context.Background()
	wamid, err := e.emu.Inject(ctx, waemu.Inbound{From: "4915112345099", Name: "Kim", Type: "text", Text: "Hallo?"})
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []bool{true, false, false} {
		sent, err := e.ch.ShowTyping(ctx, wamid)
		if err != nil || sent != want {
			t.Fatalf("call %d: sent %v err %v, want %v", i, sent, err, want)
		}
		e.clock.Advance(5 * time.Second)
	}
	if r := e.emu.Reads(); len(r) != 1 || !r[0].Typing || r[0].MessageID != wamid {
		t.Fatalf("reads %+v", r)
	}
	e.clock.Advance(whatsapp.TypingInterval)
	if sent, err := e.ch.ShowTyping(ctx, wamid); err != nil || !sent {
		t.Fatalf("after the interval: %v %v", sent, err)
	}
	if n := len(e.emu.Reads()); n != 2 {
		t.Errorf("%d reads", n)
	}
	const foreign = "wamid.HBgLNDkxNTExMjM0NTA5ORUCABIYFDNBMDAwMDAwMDAwMDAwMDAwMDAwAA=="
	if sent, err := e.ch.ShowTyping(ctx, foreign); err == nil || sent {
		t.Fatalf("unknown message: %v %v", sent, err)
	}
	if _, err := e.ch.ShowTyping(ctx, foreign); err == nil {
		t.Error("second try of a refused id was swallowed by the rate limit")
	}
}
