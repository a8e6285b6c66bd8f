package chatchannel_test

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/pbxgate/pbxgate/drivers/chatchannel"
)

// The pacer (moved here from drivers/telegram) keeps Telegram's limits (Bots FAQ: about 30 messages per
// second overall, one per second per chat) and lets an interactive
// message overtake a campaign's waiting messages.
func TestPacerLimitsAndInteractiveFirst(t *testing.T) {
	t.Parallel()
	p := chatchannel.NewPacer(10, 200*time.Millisecond)
	now := time.Now()
	// Overall: 10/s is a 100 ms gap between any two messages.
	a, b := p.Reserve("1", now), p.Reserve("2", now)
	if b.Sub(a) != 100*time.Millisecond {
		t.Fatalf("overall gap %s", b.Sub(a))
	}
	// Per chat: the third message to chat 1 waits for its 200 ms gap.
	if c := p.Reserve("1", now); c.Sub(a) != 200*time.Millisecond {
		t.Fatalf("per-chat gap %s", c.Sub(a))
	}

	// Bulk for chat 10..14 queued first, then one interactive message:
	// the interactive one goes before all but at most one bulk message.
	p = chatchannel.NewPacer(10, 0+time.Nanosecond)
	ctx := context.Background()
	var mu sync.Mutex
	var order []string
	var wg sync.WaitGroup
	for i := range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = p.Wait(ctx, strconv.Itoa(10+i), true)
			mu.Lock()
			order = append(order, "bulk")
			mu.Unlock()
		}()
	}
	time.Sleep(20 * time.Millisecond) // the campaign's messages wait
	wg.Add(1)
	go func() {
		defer wg.Done()
		_ = p.Wait(ctx, "99", false)
		mu.Lock()
		order = append(order, "interactive")
		mu.Unlock()
	}()
	wg.Wait()
	pos := -1
	for i, o := range order {
		if o == "interactive" {
			pos = i
		}
	}
	if pos < 0 || pos > 2 {
		t.Fatalf("order %v: the interactive message waited behind the campaign", order)
	}
}

// A 429's retry_after holds every send back.
func TestPacerHoldAfter429(t *testing.T) {
	t.Parallel()
	p := chatchannel.NewPacer(30, time.Second)
	p.Hold(2 * time.Second)
	at := p.Reserve("5", time.Now())
	if d := time.Until(at); d < 1900*time.Millisecond {
		t.Fatalf("next send in %s after a 2 s retry_after", d)
	}
}

// Without a per-chat gap (Viber, VK, Meta) the pacer spaces every message
// evenly at the platform's rate, whatever the chat: VK allows 20 calls per
// second with a community token (https://dev.vk.com/en/api/api-requests).
func TestPacerEvenGapWithoutPerChat(t *testing.T) {
	t.Parallel()
	p := chatchannel.NewPacer(20, 0)
	now := time.Now()
	a, b, c := p.Reserve("", now), p.Reserve("", now), p.Reserve("x", now)
	if b.Sub(a) != 50*time.Millisecond || c.Sub(b) != 50*time.Millisecond {
		t.Fatalf("gaps %s, %s; want 50 ms at 20/s", b.Sub(a), c.Sub(b))
	}
	if !a.Equal(now) {
		t.Fatalf("the first message waits %s", a.Sub(now))
	}
}

// A cancelled context ends a wait with its error.
func TestPacerWaitEndsWithContext(t *testing.T) {
	t.Parallel()
	p := chatchannel.NewPacer(1, 0)
	p.Hold(time.Hour)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, bulk := range []bool{false, true} {
		if err := p.Wait(ctx, "1", bulk); err != context.Canceled {
			t.Fatalf("bulk %v: %v, want context.Canceled", bulk, err)
		}
	}
}
